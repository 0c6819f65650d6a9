// The password policy: which rules apply, how they read on the form, and every rule a password breaks.
import { createRequire } from 'node:module';
import type { Config, PasswordRule } from '../../config.ts';
import { normalizePassword } from './hashing.ts';
import { t } from '../../infra/i18n.ts';

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

// Functions, read when a form is shown or a password checked: the texts are in the reader's language.
const TEXT: Record<PasswordRule | 'min' | 'max', (policy: PasswordPolicySettings) => RuleText> = {
  min: (p) => ({ rule: t('passwords.rules.min', { count: p.minLength }), broken: t('passwords.broken.min', { count: p.minLength }) }),
  max: (p) => ({ rule: t('passwords.rules.max', { count: p.maxLength }), broken: t('passwords.broken.max', { count: p.maxLength }) }),
  upper: () => ({ rule: t('passwords.rules.upper'), broken: t('passwords.broken.upper') }),
  lower: () => ({ rule: t('passwords.rules.lower'), broken: t('passwords.broken.lower') }),
  digit: () => ({ rule: t('passwords.rules.digit'), broken: t('passwords.broken.digit') }),
  special: () => ({ rule: t('passwords.rules.special'), broken: t('passwords.broken.special') }),
  common: () => ({ rule: t('passwords.rules.common'), broken: t('passwords.broken.common') }),
  personal: () => ({ rule: t('passwords.rules.personal'), broken: t('passwords.broken.personal') }),
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
