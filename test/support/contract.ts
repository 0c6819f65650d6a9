// Texts the product contract fixes, as the tests expect to read them.

/** The default password rules, as every form that sets a password lists them. */
export const DEFAULT_RULES = [
  'At least 8 characters',
  'An upper-case letter',
  'A lower-case letter',
  'A digit',
  'A special character, such as ! ? # or %',
  'Not a commonly used password',
  'Does not contain your name or email',
  'At most 128 characters',
];

/** What the policy says of the password "password": every rule it breaks, in the order listed. */
export const BROKEN_BY_PASSWORD = [
  'Add an upper-case letter.',
  'Add a digit.',
  'Add a special character, such as ! ? # or %.',
  'This password is too common; choose one that is harder to guess.',
];
