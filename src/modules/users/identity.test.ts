// Unit tests of what a well-formed email address and display name are, and how both are normalized before storage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../infra/errors.ts';
import { normalizeEmail, normalizeName } from './identity.ts';

/** Asserts that `run` throws a UserError (400) whose message matches, and returns it. */
function refuses(run: () => unknown, message: RegExp, field: 'email' | 'name'): UserError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  assert.equal(caught.status, 400);
  assert.match(caught.message, message);
  assert.equal(caught.fields[field], caught.message, `the message belongs to the "${field}" field`);
  return caught;
}

describe('normalizeEmail', () => {
  it('stores the address trimmed and in lower case', () => {
    assert.equal(normalizeEmail('  Mara.Reader@Example.COM  '), 'mara.reader@example.com');
    assert.equal(normalizeEmail('\tMARA@EXAMPLE.COM\t'), 'mara@example.com');
  });

  it('accepts ordinary well-formed addresses, including plus tags, subdomains and localhost', () => {
    for (const [typed, stored] of [
      ['first.last+tag@mail.example.co.uk', 'first.last+tag@mail.example.co.uk'],
      ["o'brien@example.ie", "o'brien@example.ie"],
      ['a_b-c@sub-domain.example.org', 'a_b-c@sub-domain.example.org'],
      ['admin@localhost', 'admin@localhost'],
    ] as const) {
      assert.equal(normalizeEmail(typed), stored);
    }
  });

  it('refuses an empty address', () => {
    refuses(() => normalizeEmail(''), /Enter an email address/, 'email');
    refuses(() => normalizeEmail('   '), /Enter an email address/, 'email');
  });

  it('refuses an address with a line break inside it, so no mail header can be injected', () => {
    refuses(() => normalizeEmail('victim@example.com\r\nBcc: attacker@evil.test'), /cannot contain line breaks/, 'email');
    refuses(() => normalizeEmail('victim@example.com\nBcc: attacker@evil.test'), /cannot contain line breaks/, 'email');
    refuses(() => normalizeEmail('victim@example.com\rX'), /cannot contain line breaks/, 'email');
  });

  it('refuses a look-alike address written with Cyrillic letters', () => {
    // "аdmin" starts with CYRILLIC SMALL LETTER A (U+0430), which looks like the Latin "a".
    refuses(() => normalizeEmail('\u0430dmin@example.com'), /only contain plain letters/, 'email');
    // "ехаmple" with Cyrillic е, х, а in the domain.
    refuses(() => normalizeEmail('admin@\u0435\u0445\u0430mple.com'), /only contain plain letters/, 'email');
  });

  it('refuses other non-ASCII and invisible characters', () => {
    refuses(() => normalizeEmail('ad\u200Bmin@example.com'), /only contain plain letters/, 'email');
    refuses(() => normalizeEmail('admin@ex\u00e4mple.com'), /only contain plain letters/, 'email');
  });

  it('refuses an address longer than 254 characters', () => {
    const long = 'a'.repeat(60) + '@' + 'b'.repeat(60) + '.' + 'c'.repeat(60) + '.' + 'd'.repeat(60) + '.example.com';
    assert.ok(long.length > 254);
    refuses(() => normalizeEmail(long), /too long/, 'email');
  });

  it('refuses a local part longer than 64 characters', () => {
    refuses(() => normalizeEmail('a'.repeat(65) + '@example.com'), /valid email address/, 'email');
    assert.equal(normalizeEmail('a'.repeat(64) + '@example.com'), 'a'.repeat(64) + '@example.com');
  });

  it('refuses malformed addresses', () => {
    for (const typed of ['plainaddress', '@example.com', 'name@', 'name@example', 'na me@example.com', 'name@@example.com', 'name@exa_mple.com', '.name@example.com', 'name..x@example.com', 'name@-example.com']) {
      refuses(() => normalizeEmail(typed), /valid email address|only contain/, 'email');
    }
  });
});

describe('normalizeName', () => {
  it('trims the name and keeps its case', () => {
    assert.equal(normalizeName('  Mara Reader  '), 'Mara Reader');
    assert.equal(normalizeName('McALLISTER'), 'McALLISTER');
  });

  it('collapses runs of spaces inside the name', () => {
    assert.equal(normalizeName('Mara    Reader'), 'Mara Reader');
  });

  it('stores names in NFC, so the same name typed two ways is one name', () => {
    const decomposed = 'Zoe\u0308 Ren\u0301e';
    assert.equal(normalizeName(decomposed), 'Zoë Reńe'.normalize('NFC'));
    assert.equal(normalizeName(decomposed), normalizeName(decomposed.normalize('NFC')));
  });

  it('accepts names in other scripts', () => {
    assert.equal(normalizeName('Анна Каренина'), 'Анна Каренина');
    assert.equal(normalizeName('李小龍'), '李小龍');
  });

  it('refuses an empty name', () => {
    refuses(() => normalizeName(''), /Enter a name/, 'name');
    refuses(() => normalizeName('    '), /Enter a name/, 'name');
  });

  it('refuses a name with a line break inside it', () => {
    refuses(() => normalizeName('Mara\r\nBcc: attacker@evil.test'), /cannot contain line breaks/, 'name');
    refuses(() => normalizeName('Mara\nReader'), /cannot contain line breaks/, 'name');
  });

  it('refuses zero-width characters in a name', () => {
    for (const invisible of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF']) {
      refuses(() => normalizeName(`Ma${invisible}ra Reader`), /invisible/, 'name');
    }
  });

  it('refuses bidirectional control characters in a name', () => {
    for (const bidi of ['\u202E', '\u202D', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) {
      refuses(() => normalizeName(`Admin${bidi}istrator`), /invisible/, 'name');
    }
  });

  it('refuses other control characters such as a tab or NUL', () => {
    refuses(() => normalizeName('Mara\tReader'), /invisible/, 'name');
    refuses(() => normalizeName('Mara\u0000Reader'), /invisible/, 'name');
  });

  it('refuses a name longer than 100 characters, and accepts 100', () => {
    assert.equal(normalizeName('x'.repeat(100)), 'x'.repeat(100));
    refuses(() => normalizeName('x'.repeat(101)), /at most 100 characters/, 'name');
  });
});
