// The pieces of the pages' route schemas (TypeBox) that many pages share: form bodies with their CSRF field, ids in
// paths, notices, page numbers. Form fields are lenient strings with a length limit, so a person's mistake comes back
// as the form with a message beside the field (the services keep the rules); what no browser sends gets the 400 page.
import { Type, type TProperties } from 'typebox';

/** A text field of a form or query string, up to `maxLength` characters; absent reads as undefined. */
export const text = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

/** Several values under one name (checkboxes, hidden ids); a single value arrives as a list of one. */
export const texts = (maxLength: number, maxItems: number) => Type.Optional(Type.Array(Type.String({ maxLength }), { maxItems }));

/** A form post: its fields and the CSRF token every form carries (checked by app.ts); unknown fields are dropped. */
export function formBody<T extends TProperties>(fields: T) {
  return Type.Object({ _csrf: text(200), ...fields }, { additionalProperties: false });
}

/** A query string with these parameters; unknown ones are dropped. */
export function query<T extends TProperties>(parameters: T) {
  return Type.Object(parameters, { additionalProperties: false });
}

/** `/…/:id` — a record's id (the stores' ids are far shorter; longer is not one of them). */
export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

/** `?notice=` — which message to show after a redirect; each page knows its own keys. */
export const NoticeQuery = query({ notice: text(64) });

/** `?page=` on a paged list: a whole number from 1 (the query string's text is coerced). */
export const pageNumber = Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 }));

/** The page a list shows, and the offset of its first row. */
export function pageOf(page: number | undefined, perPage: number): { page: number; offset: number } {
  const number = page ?? 1;
  return { page: number, offset: (number - 1) * perPage };
}
