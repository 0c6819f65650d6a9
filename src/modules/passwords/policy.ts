// The password policy: which rules apply, how they read on the form, and every rule a password breaks.
import { createRequire } from 'node:module';
import type { Config, PasswordRule } from '../../config.ts';
import { normalizePassword } from './hashing.ts';

export type PasswordPolicySettings = Config['passwordPolicy'];

export interface PersonalInfo {
  name?: string;
  email?: string;
}

export interface RuleText {
  /** Shown next to the form, as a rule to follow. */
  rule: string;
  /** Shown when a password breaks it. */
  broken: string;
}

const TEXT: Record<PasswordRule | 'min' | 'max', (policy: PasswordPolicySettings) => RuleText> = {
  min: (p) => ({ rule: `At least ${p.minLength} characters`, broken: `Use at least ${p.minLength} characters.` }),
  max: (p) => ({ rule: `At most ${p.maxLength} characters`, broken: `Use at most ${p.maxLength} characters.` }),
  upper: () => ({ rule: 'An upper-case letter', broken: 'Add an upper-case letter.' }),
  lower: () => ({ rule: 'A lower-case letter', broken: 'Add a lower-case letter.' }),
  digit: () => ({ rule: 'A digit', broken: 'Add a digit.' }),
  special: () => ({ rule: 'A special character, such as ! ? # or %', broken: 'Add a special character, such as ! ? # or %.' }),
  common: () => ({ rule: 'Not a commonly used password', broken: 'This password is too common; choose one that is harder to guess.' }),
  personal: () => ({ rule: 'Does not contain your name or email', broken: 'Do not use your name or email address in the password.' }),
};

let commonPasswords: Set<string> | null = null;

/** About 49,000 passwords most often found in breaches, from the zxcvbn-ts common dictionary. */
function loadCommonPasswords(): Set<string> {
  if (commonPasswords === null) {
    const require = createRequire(import.meta.url);
    // The passwords list alone, without the rest of the zxcvbn dictionaries.
    commonPasswords = new Set(require('@zxcvbn-ts/language-common/dist/passwords.json.js') as string[]);
  }
  return commonPasswords;
}

export function isCommonPassword(password: string): boolean {
  const list = loadCommonPasswords();
  const lower = password.toLowerCase();
  // "Summer2024!" is "summer" with decoration: strip leading and trailing digits and symbols too.
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return list.has(lower) || (core.length >= 4 && list.has(core));
}

function personalParts(info: PersonalInfo): string[] {
  const parts = new Set<string>();
  const email = info.email?.toLowerCase().trim();
  if (email) {
    parts.add(email);
    const local = email.split('@')[0] ?? '';
    if (local.length >= 3) parts.add(local);
    for (const piece of local.split(/[^\p{L}\p{N}]+/u)) if (piece.length >= 3) parts.add(piece);
  }
  const name = info.name?.toLowerCase().normalize('NFKC').trim();
  if (name) {
    if (name.length >= 3) parts.add(name);
    for (const piece of name.split(/[^\p{L}\p{N}]+/u)) if (piece.length >= 3) parts.add(piece);
  }
  return [...parts];
}

export class PasswordPolicy {
  constructor(readonly settings: PasswordPolicySettings) {
    if (settings.rules.includes('common')) loadCommonPasswords();
  }

  /** The rules in force, as shown on every form that sets a password. */
  rules(): string[] {
    const keys: Array<PasswordRule | 'min' | 'max'> = ['min', ...this.settings.rules, 'max'];
    return keys.map((key) => TEXT[key](this.settings).rule);
  }

  /** Every rule the password breaks, as messages for a person; empty when it passes. */
  check(rawPassword: string, info: PersonalInfo): string[] {
    const password = normalizePassword(rawPassword);
    const length = [...password].length;
    const broken: Array<PasswordRule | 'min' | 'max'> = [];
    const rules = this.settings.rules;
    if (length < this.settings.minLength) broken.push('min');
    if (length > this.settings.maxLength) broken.push('max');
    if (rules.includes('upper') && !/\p{Lu}/u.test(password)) broken.push('upper');
    if (rules.includes('lower') && !/\p{Ll}/u.test(password)) broken.push('lower');
    if (rules.includes('digit') && !/\p{Nd}/u.test(password)) broken.push('digit');
    if (rules.includes('special') && !/[^\p{L}\p{N}\s]/u.test(password)) broken.push('special');
    if (rules.includes('common') && length <= 64 && isCommonPassword(password)) broken.push('common');
    if (rules.includes('personal')) {
      const lower = password.toLowerCase();
      if (personalParts(info).some((part) => lower.includes(part))) broken.push('personal');
    }
    return broken.map((key) => TEXT[key](this.settings).broken);
  }
}
