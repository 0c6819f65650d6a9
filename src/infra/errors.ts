// Errors a person can cause: each carries a message for that person and the HTTP status that fits it.
export class UserError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    /** Field name → message, when the error belongs to form fields. */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class NotFoundError extends UserError {
  constructor(message = 'This page does not exist.') {
    super(message, 404);
  }
}
