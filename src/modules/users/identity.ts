// What a well-formed email address and display name are, and how they are normalized before storage.
import { UserError } from '../../infra/errors.ts';

const LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$/;
// Zero-width, bidirectional and other invisible format characters that make one text look like another.
const INVISIBLE = /[\p{Cf}\p{Cc}\p{Co}\p{Cn}\u2028\u2029]/u;

/** Returns the address as stored (trimmed, lower case), or throws a message naming what is wrong. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim();
  if (email === '') throw new UserError('Enter an email address.', 400, { email: 'Enter an email address.' });
  const problem = emailProblem(email);
  if (problem) throw new UserError(problem, 400, { email: problem });
  return email.toLowerCase();
}

function emailProblem(email: string): string | null {
  if (/[\r\n]/.test(email)) return 'An email address cannot contain line breaks.';
  if (email.length > 254) return 'This email address is too long.';
  // Look-alike letters from other scripts could pass for a known address; only plain ASCII is accepted.
  if (/[^\x20-\x7e]/.test(email)) return 'An email address may only contain plain letters, digits and . _ + - @.';
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return 'Enter a valid email address, like name@example.com.';
  const local = email.slice(0, at).toLowerCase();
  const domain = email.slice(at + 1).toLowerCase();
  if (local.length > 64 || !LOCAL.test(local) || !DOMAIN.test(domain)) {
    return 'Enter a valid email address, like name@example.com.';
  }
  return null;
}

export function normalizeName(raw: string): string {
  const name = raw.normalize('NFC').trim().replace(/ {2,}/g, ' ');
  const fail = (message: string): never => {
    throw new UserError(message, 400, { name: message });
  };
  if (name === '') fail('Enter a name.');
  if (/[\r\n]/.test(name)) fail('A name cannot contain line breaks.');
  if (INVISIBLE.test(name)) fail('A name cannot contain control or invisible characters.');
  if ([...name].length > 100) fail('A name can be at most 100 characters long.');
  return name;
}
