// The alert rules of the Security view: what each kind of alert means, when it fires, and how it reads.
import type { AlertSettings } from '../../config.ts';
import { t } from '../../infra/i18n.ts';

export type AlertKind = 'reset_surge' | 'spraying' | 'targeted_account' | 'failed_login_surge' | 'mail_failures' | 'reset_undeliverable';

/** The kind of alert as a person reads it, in the reader's language: the mail's subject and the heading on the Security page. */
export const ALERT_TITLES: Record<AlertKind, () => string> = {
  reset_surge: () => t('security.alert.resetSurge'),
  spraying: () => t('security.alert.spraying'),
  targeted_account: () => t('security.alert.targetedAccount'),
  failed_login_surge: () => t('security.alert.failedLoginSurge'),
  mail_failures: () => t('security.alert.mailFailures'),
  reset_undeliverable: () => t('security.alert.resetUndeliverable'),
};

/** What a rule found: one alert, unless one of the same kind about the same subject was raised within the hour. */
export interface Finding {
  kind: AlertKind;
  /** An IP address, a network or an email address; empty for the whole service. */
  subject: string;
  summary: string;
  /** The Audit Log's query string that shows the events behind it. */
  audit: string;
  figures: Record<string, number | string>;
}

/** The middle of the hourly counts (hours without events count as 0). */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A count is a spike when it reaches the minimum and is more than `factor` times the usual hour. */
export function isSpike(count: number, usualHour: number, factor: number, minimum: number): boolean {
  return count >= minimum && count > factor * usualHour;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

export function resetSurge(count: number, usual: number, settings: AlertSettings, audit: string): Finding | null {
  if (!isSpike(count, usual, settings.spikeFactor, settings.resetMinimum)) return null;
  return {
    kind: 'reset_surge',
    subject: '',
    summary: `${plural(count, 'reset request')} in the last hour; a usual hour of the last 7 days has ${usual.toLocaleString('en-US')}.`,
    audit,
    figures: { requests: count, usualHour: usual },
  };
}

export function failedLoginSurge(count: number, usual: number, settings: AlertSettings, audit: string): Finding | null {
  if (!isSpike(count, usual, settings.spikeFactor, settings.failedLoginMinimum)) return null;
  return {
    kind: 'failed_login_surge',
    subject: '',
    summary: `${plural(count, 'failed login')} in the last hour; a usual hour of the last 7 days has ${usual.toLocaleString('en-US')}.`,
    audit,
    figures: { failedLogins: count, usualHour: usual },
  };
}

export function spraying(source: { ip?: string; network?: string; requests: number; accounts: number }, audit: string): Finding {
  const who = source.ip ? `IP address ${source.ip}` : `Network ${source.network}`;
  return {
    kind: 'spraying',
    subject: source.ip ?? source.network!,
    summary: `${who} asked to reset the password of ${plural(source.accounts, 'different address', 'different addresses')} in the last hour (${plural(source.requests, 'request')}).`,
    audit,
    figures: { accounts: source.accounts, requests: source.requests },
  };
}

export function targetedAccount(target: { email: string; ips: number; requests: number }, audit: string): Finding {
  return {
    kind: 'targeted_account',
    subject: target.email,
    summary: `The password reset of ${target.email} was asked for from ${plural(target.ips, 'different IP address', 'different IP addresses')} in the last hour (${plural(target.requests, 'request')}).`,
    audit,
    figures: { ips: target.ips, requests: target.requests },
  };
}

export function mailFailures(failed: number, attempts: number, settings: AlertSettings, audit: string): Finding | null {
  if (attempts < settings.mailFailureMinimum || failed * 100 < settings.mailFailurePercent * attempts) return null;
  const percent = Math.round((failed * 100) / attempts);
  return {
    kind: 'mail_failures',
    subject: '',
    summary: `${failed.toLocaleString('en-US')} of ${plural(attempts, 'mail delivery', 'mail deliveries')} failed in the last hour (${percent}%).`,
    audit,
    figures: { failed, attempts, percent },
  };
}

/**
 * Someone asked for a reset of an account whose address bounced: the mail will not arrive, so an administrator
 * should reach the person another way (the person got the same answer as for any address).
 */
export function resetForUndeliverable(target: { email: string; bounce: string }, audit: string): Finding {
  return {
    kind: 'reset_undeliverable',
    subject: target.email,
    summary: `A password reset was asked for ${target.email}, whose mail bounced (${target.bounce}); the instructions will likely not arrive: reach the person another way.`,
    audit,
    figures: { bounce: target.bounce },
  };
}
