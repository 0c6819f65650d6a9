// Unit tests of the password policy: every default rule, how refusals read, the common-password list and the settings that change the rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isCommonPassword, PasswordPolicy, type PasswordPolicySettings } from './policy.ts';
import { DEFAULT_RULES } from '../../../test/support/contract.ts';
import { Languages, readCatalogues, setDefaultTranslator } from '../../infra/i18n.ts';

// The rules read in the reader's language; outside a request that is the default, English here.
setDefaultTranslator(new Languages(readCatalogues(), { defaultLanguage: 'en', timeZone: 'UTC' }).get('en'));

const ALL_RULES: PasswordPolicySettings['rules'] = ['upper', 'lower', 'digit', 'special', 'common', 'personal'];
const DEFAULTS: PasswordPolicySettings = { minLength: 8, maxLength: 128, rules: [...ALL_RULES] };

const MIN = 'Use at least 8 characters.';
const MAX = 'Use at most 128 characters.';
const UPPER = 'Add an upper-case letter.';
const LOWER = 'Add a lower-case letter.';
const DIGIT = 'Add a digit.';
const SPECIAL = 'Add a special character, such as ! ? # or %.';
const COMMON = 'This password is too common; choose one that is harder to guess.';
const PERSONAL = 'Do not use your name or email address in the password.';

const STRONG = 'Velvet-Harbor-42';

function policy(settings: Partial<PasswordPolicySettings> = {}): PasswordPolicy {
  return new PasswordPolicy({ ...DEFAULTS, ...settings });
}

describe('password policy: the default rules', () => {
  const defaults = policy();

  it('a strong password breaks no rule', () => {
    assert.deepEqual(defaults.check(STRONG, {}), []);
    assert.deepEqual(defaults.check(STRONG, { name: 'Mara Reader', email: 'mara.reader@example.com' }), []);
  });

  it('a password shorter than 8 characters is refused for its length, and 8 characters are enough', () => {
    assert.deepEqual(defaults.check('Vh-42ab', {}), [MIN]);
    assert.deepEqual(defaults.check('Vh-42abc', {}), []);
  });

  it('a password without an upper-case letter is refused', () => {
    assert.deepEqual(defaults.check('velvet-harbor-42', {}), [UPPER]);
  });

  it('a password without a lower-case letter is refused', () => {
    assert.deepEqual(defaults.check('VELVET-HARBOR-42', {}), [LOWER]);
  });

  it('a password without a digit is refused', () => {
    assert.deepEqual(defaults.check('Velvet-Harbor-xx', {}), [DIGIT]);
  });

  it('a password without a special character is refused; a space alone does not count as one', () => {
    assert.deepEqual(defaults.check('VelvetHarbor42', {}), [SPECIAL]);
    assert.deepEqual(defaults.check('Velvet Harbor 42', {}), [SPECIAL]);
    assert.deepEqual(defaults.check('Velvet#Harbor42', {}), []);
  });

  it('a password longer than 128 characters is refused, and 128 characters are accepted', () => {
    const base = 'Vh-4';
    const exactly128 = base + 'x'.repeat(124);
    assert.equal(exactly128.length, 128);
    assert.deepEqual(defaults.check(exactly128, {}), []);
    assert.deepEqual(defaults.check(exactly128 + 'y', {}), [MAX]);
  });

  it('length is counted in characters, not UTF-16 code units', () => {
    // Seven emoji are 14 code units but only 7 characters: still too short.
    const sevenChars = 'Aa1!😀😀😀';
    assert.equal([...sevenChars].length, 7);
    assert.deepEqual(defaults.check(sevenChars, {}), [MIN]);
  });

  it('every broken rule is listed at once, in the order the rules are shown', () => {
    assert.deepEqual(defaults.check('', {}), [MIN, UPPER, LOWER, DIGIT, SPECIAL]);
    assert.deepEqual(defaults.check('password', {}), [UPPER, DIGIT, SPECIAL, COMMON]);
    assert.deepEqual(defaults.check('abc', {}), [MIN, UPPER, DIGIT, SPECIAL]);
  });

  it('the rules in force read as a list for the form, from the minimum length to the maximum', () => {
    assert.deepEqual(defaults.rules(), DEFAULT_RULES);
  });
});

describe('password policy: common passwords', () => {
  const defaults = policy();

  it('common passwords are refused, even when decorated to pass the other rules', () => {
    for (const password of ['password', 'Password1!', 'Summer2024!', 'P@ssw0rd', 'Qwerty123!', 'iloveyou', 'Monkey123!']) {
      assert.ok(defaults.check(password, {}).includes(COMMON), `"${password}" is refused as common`);
    }
    assert.deepEqual(defaults.check('Password1!', {}), [COMMON], 'only the common rule is broken by "Password1!"');
    assert.deepEqual(defaults.check('Summer2024!', {}), [COMMON], 'only the common rule is broken by "Summer2024!"');
  });

  it('isCommonPassword knows common passwords whatever their case, and not strong ones', () => {
    for (const password of ['123456', 'password', 'PASSWORD', 'qwerty', 'letmein', 'Summer2024!']) {
      assert.equal(isCommonPassword(password), true, password);
    }
    for (const password of [STRONG, 'Tr0ub4dor&3', 'zq-Marlin-Quokka-81']) {
      assert.equal(isCommonPassword(password), false, password);
    }
  });

  it('the list of common passwords has at least 10,000 entries, and the policy knows entries from deep in it', () => {
    const require = createRequire(import.meta.url);
    const list = require('@zxcvbn-ts/language-common/dist/passwords.json.js') as string[];
    assert.ok(Array.isArray(list));
    assert.ok(list.length >= 10_000, `the list has ${list.length} entries`);
    // Entries past the 10,000th (and the very last) are known: the whole list is in use, not a short excerpt.
    for (const index of [9_999, 10_000, 25_000, list.length - 1]) {
      const entry = list[index]!;
      assert.equal(isCommonPassword(entry), true, `entry #${index} "${entry}"`);
    }
  });

  it('the common check can be turned off by leaving the rule out', () => {
    const noCommon = policy({ rules: ['upper', 'lower', 'digit', 'special', 'personal'] });
    assert.deepEqual(noCommon.check('Password1!', {}), []);
  });
});

describe('password policy: personal information', () => {
  const defaults = policy();
  const mara = { name: 'Mara Reader', email: 'mara.reader@example.com' };

  it('a password containing the name is refused, whatever its case', () => {
    assert.deepEqual(defaults.check('Mara-Reader-77!', mara), [PERSONAL]);
    assert.deepEqual(defaults.check('zz-READER-77!q', mara), [PERSONAL]);
    assert.deepEqual(defaults.check('Qx-mArA-77!', mara), [PERSONAL]);
  });

  it('a password containing the email address or its local part is refused, whatever its case', () => {
    assert.deepEqual(defaults.check('x1!MARA.READER@EXAMPLE.COM', mara), [PERSONAL]);
    assert.deepEqual(defaults.check('Q7#Mara.Reader', mara), [PERSONAL]);
    assert.equal(defaults.check('Velvet-Harbor-42', { email: 'someone@example.com' }).includes(PERSONAL), false);
    assert.deepEqual(defaults.check('Hello-SOMEONE-9', { email: 'someone@example.com' }), [PERSONAL]);
  });

  it('pieces of fewer than three letters do not count, so short names do not forbid half the alphabet', () => {
    assert.deepEqual(defaults.check('Jo-Velvet-Harbor-42', { name: 'Al Jo', email: 'al@example.com' }), []);
  });

  it('without a name or email the personal rule has nothing to compare with', () => {
    assert.deepEqual(defaults.check(STRONG, {}), []);
  });
});

describe('password policy: Unicode', () => {
  const defaults = policy();

  it('passwords are compared in NFKC form: full-width look-alikes of a common password are refused', () => {
    assert.deepEqual(defaults.check('Ｐａｓｓｗｏｒｄ１！', {}), [COMMON]);
  });

  it('NFKC applies to the name check too: a full-width name inside the password is found', () => {
    assert.deepEqual(defaults.check('Ｍａｒａ-Secure-77!', { name: 'Mara Reader' }), [PERSONAL]);
  });

  it('NFKC applies to the length: a ligature counts as the letters it stands for', () => {
    // "ﬁ" (one character) becomes "fi" (two): seven typed characters make eight after normalization.
    const typed = 'Zq-4ﬁxy';
    assert.equal([...typed].length, 7);
    assert.deepEqual(defaults.check(typed, {}), []);
  });

  it('letters and digits of other scripts count for the letter and digit rules', () => {
    assert.deepEqual(defaults.check('Ünïcödé-٤٢-ß', {}), []);
  });
});

describe('password policy: settings change the rules', () => {
  it('a longer minimum length is enforced and shown', () => {
    const strict = policy({ minLength: 12 });
    assert.deepEqual(strict.check('Vh-42abcdef', {}), ['Use at least 12 characters.']);
    assert.deepEqual(strict.check('Vh-42abcdefg', {}), []);
    assert.equal(strict.rules()[0], 'At least 12 characters');
  });

  it('a different maximum length is enforced and shown', () => {
    const wide = policy({ maxLength: 256 });
    const long = 'Vh-4' + 'x'.repeat(200);
    assert.deepEqual(wide.check(long, {}), []);
    assert.deepEqual(wide.check(long + 'x'.repeat(60), {}), ['Use at most 256 characters.']);
    assert.equal(wide.rules().at(-1), 'At most 256 characters');
  });

  it('with no rules listed, only the lengths are checked', () => {
    const lengthsOnly = policy({ rules: [] });
    assert.deepEqual(lengthsOnly.check('password', { name: 'pass word' }), []);
    assert.deepEqual(lengthsOnly.check('short', {}), [MIN]);
    assert.deepEqual(lengthsOnly.rules(), ['At least 8 characters', 'At most 128 characters']);
  });

  it('only the rules listed apply, and only they are shown', () => {
    const some = policy({ rules: ['digit', 'special'] });
    assert.deepEqual(some.check('alllowercase', {}), [DIGIT, SPECIAL]);
    assert.deepEqual(some.check('all-lowercase-1', {}), []);
    assert.deepEqual(some.rules(), ['At least 8 characters', 'A digit', 'A special character, such as ! ? # or %', 'At most 128 characters']);
  });

  it('without the personal rule, the name may appear in the password', () => {
    const impersonal = policy({ rules: ['upper', 'lower', 'digit', 'special', 'common'] });
    assert.deepEqual(impersonal.check('Mara-Reader-77!', { name: 'Mara Reader' }), []);
  });
});
