// Every email Latchkey sends, its subject and its text and HTML parts, in one place per mail.
import { html, type SafeHtml } from '../../views/html.ts';

export type MailTemplate =
  | { template: 'reset'; params: { name: string; ttlSeconds: number; sentByAdministrator: boolean } }
  | { template: 'password_changed'; params: { name: string; changedAt: number; how: 'reset' | 'invitation' | 'account' | 'command line' | 'administrator' } }
  | { template: 'test'; params: Record<string, never> }
  | { template: 'security_alert'; params: { title: string; alerts: Array<{ summary: string; at: number }> } }
  | { template: 'two_step_removed'; params: { name: string; removedAt: number } }
  | { template: 'invitation'; params: { name: string; ttlSeconds: number } }
  | { template: 'confirm_email'; params: { name: string; ttlSeconds: number } }
  | { template: 'email_change'; params: { name: string; ttlSeconds: number; newEmail: string } }
  | { template: 'email_change_notice'; params: { name: string; ttlSeconds: number; newEmail: string } };

/** The mails that carry a link, and the path of the page each link opens (the token follows it). */
export const LINK_PATHS: Partial<Record<MailTemplate['template'], string>> = {
  reset: 'reset-password',
  invitation: 'invitation',
  confirm_email: 'confirm-email',
  email_change: 'confirm-email',
  email_change_notice: 'undo-email-change',
};

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface MailSettings {
  baseUrl: URL;
}

/** "24 hours", "1 hour", "15 minutes": the link lifetime as a person reads it. */
export function describeDuration(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds % 86400 === 0 && seconds >= 2 * 86400) return plural(seconds / 86400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds >= 60) return plural(Math.round(seconds / 60), 'minute');
  return plural(seconds, 'second');
}

function frame(title: string, body: SafeHtml): string {
  return '<!doctype html>' + html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>
<body style="margin:0;padding:24px;background:#f5f6f8;font-family:Arial,Helvetica,sans-serif;color:#1d2330;font-size:16px;line-height:1.5">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" style="background:#ffffff;border-radius:8px;padding:24px">
<tr><td style="padding:24px">${body}</td></tr></table>
</td></tr></table>
</body></html>`.value;
}

/** A mail's subject alone: what the queue lists, without rendering the whole mail. */
export function subjectOf(mail: MailTemplate): string {
  switch (mail.template) {
    case 'reset':
      return `Password reset for ${mail.params.name}`;
    case 'password_changed':
      return 'Your password was changed';
    case 'test':
      return 'Latchkey test email';
    case 'security_alert':
      return `Security alert: ${mail.params.title}`;
    case 'two_step_removed':
      return 'Two-step verification was removed from your account';
    case 'invitation':
      return `You're invited to Latchkey, ${mail.params.name}`;
    case 'confirm_email':
      return 'Please confirm your email address';
    case 'email_change':
      return 'Confirm your new email address';
    case 'email_change_notice':
      return 'Your email address is being changed';
  }
}

function button(url: string, label: string): SafeHtml {
  return html`<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">${label}</a></p>`;
}

/** A mail built around one link: greeting, paragraphs, the button, how long the link works, and the closing words. */
function linkMail(subject: string, name: string, before: string[], url: string, label: string, validity: string, after: string[]): RenderedMail {
  const text = [`Hello ${name},`, '', ...before.flatMap((line) => [line, '']), url, '', `The link is valid for ${validity} and works once.`, '', ...after.flatMap((line) => [line, '']), '— Latchkey'].join('\n');
  const body = html`<p>Hello ${name},</p>
${before.map((line) => html`<p>${line}</p>`)}
${button(url, label)}
<p>The link is valid for ${validity} and works once. If the button does not work, copy this address into your browser:<br><span style="word-break:break-all">${url}</span></p>
${after.map((line) => html`<p>${line}</p>`)}
<p>— Latchkey</p>`;
  return { subject, text, html: frame(subject, body) };
}

/** The reset link is passed separately: the queue stores only a sealed token, and shows a masked one. */
export function renderMail(mail: MailTemplate, link: string | null, settings: MailSettings): RenderedMail {
  switch (mail.template) {
    case 'reset': {
      const { name, ttlSeconds, sentByAdministrator } = mail.params;
      const validity = describeDuration(ttlSeconds);
      const url = link ?? `${settings.baseUrl.href}reset-password/••••••••`;
      const why = sentByAdministrator
        ? 'An administrator sent you these instructions to set a new password for your account.'
        : 'Someone, hopefully you, asked to reset the password of your account.';
      const subject = subjectOf(mail);
      const text = [
        `Hello ${name},`,
        '',
        why,
        'To choose a new password, open this link:',
        '',
        url,
        '',
        `The link is valid for ${validity} and works once.`,
        '',
        'If you did not ask for this, you can ignore this email: your password stays as it is.',
        '',
        '— Latchkey',
      ].join('\n');
      const body = html`<p>Hello ${name},</p>
<p>${why}</p>
<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">Choose a new password</a></p>
<p>The link is valid for ${validity} and works once. If the button does not work, copy this address into your browser:<br><span style="word-break:break-all">${url}</span></p>
<p>If you did not ask for this, you can ignore this email: your password stays as it is.</p>
<p>— Latchkey</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'password_changed': {
      const { name, changedAt, how } = mail.params;
      const when = new Date(changedAt).toUTCString();
      const subject = subjectOf(mail);
      const byWhom = how === 'administrator' ? ' by an administrator' : how === 'command line' ? ' from the command line' : how === 'invitation' ? ' (chosen with your invitation)' : '';
      const resetUrl = `${settings.baseUrl.href}reset-password`;
      const text = [
        `Hello ${name},`,
        '',
        `The password of your account was changed${byWhom} on ${when}. Every session that was signed in has been logged out.`,
        '',
        'If this was you, there is nothing more to do.',
        `If it was not, reset your password now at ${resetUrl} and tell your administrator.`,
        '',
        '— Latchkey',
      ].join('\n');
      const body = html`<p>Hello ${name},</p>
<p>The password of your account was changed${byWhom} on ${when}. Every session that was signed in has been logged out.</p>
<p>If this was you, there is nothing more to do.</p>
<p>If it was not, <a href="${resetUrl}">reset your password now</a> and tell your administrator.</p>
<p>— Latchkey</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'test': {
      const subject = subjectOf(mail);
      const text = 'This is a test email from Latchkey. If you can read it, outgoing mail works.\n\n— Latchkey';
      const body = html`<p>This is a test email from Latchkey. If you can read it, outgoing mail works.</p><p>— Latchkey</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'security_alert': {
      const { title, alerts } = mail.params;
      const subject = subjectOf(mail);
      const url = `${settings.baseUrl.href}admin/security`;
      const text = [
        'Hello,',
        '',
        `Latchkey raised a security alert: ${title}.`,
        '',
        ...alerts.map((alert) => `- ${new Date(alert.at).toUTCString()}: ${alert.summary}`),
        '',
        `See the Security page, and acknowledge the alert there once you have looked into it: ${url}`,
        '',
        'Administrators get at most one mail an hour about each kind of alert; the Security page lists every alert.',
        '',
        '— Latchkey',
      ].join('\n');
      const body = html`<p>Hello,</p>
<p>Latchkey raised a security alert: <strong>${title}</strong>.</p>
<ul>${alerts.map((alert) => html`<li>${new Date(alert.at).toUTCString()}: ${alert.summary}</li>`)}</ul>
<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">Open the Security page</a></p>
<p>Acknowledge the alert there once you have looked into it. Administrators get at most one mail an hour about each kind of alert; the Security page lists every alert.</p>
<p>— Latchkey</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'two_step_removed': {
      const { name, removedAt } = mail.params;
      const when = new Date(removedAt).toUTCString();
      const subject = subjectOf(mail);
      const accountUrl = `${settings.baseUrl.href}account`;
      const text = [
        `Hello ${name},`,
        '',
        `An administrator removed two-step verification from your account on ${when}. Every session that was signed in has been logged out; your password alone now lets you in.`,
        '',
        `Set up two-step verification again on your account page: ${accountUrl}`,
        'If you did not ask for this, tell your administrator at once.',
        '',
        '— Latchkey',
      ].join('\n');
      const body = html`<p>Hello ${name},</p>
<p>An administrator removed two-step verification from your account on ${when}. Every session that was signed in has been logged out; your password alone now lets you in.</p>
<p><a href="${accountUrl}">Set up two-step verification again</a> on your account page.</p>
<p>If you did not ask for this, tell your administrator at once.</p>
<p>— Latchkey</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'invitation': {
      const { name, ttlSeconds } = mail.params;
      const url = link ?? `${settings.baseUrl.href}invitation/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [`An administrator created an account for you on Latchkey at ${settings.baseUrl.host}. Your email address is your user name.`, 'To start using it, choose your password by opening this link:'],
        url,
        'Choose your password',
        describeDuration(ttlSeconds),
        ['If the link has expired, ask your administrator to send a new invitation. If you did not expect this invitation, you can ignore this email.'],
      );
    }
    case 'confirm_email': {
      const { name, ttlSeconds } = mail.params;
      const url = link ?? `${settings.baseUrl.href}confirm-email/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        ['An administrator asked you to confirm that this email address still reaches you. Opening the link below and pressing the button confirms it; nothing else changes and no password is asked for.'],
        url,
        'Confirm my email address',
        describeDuration(ttlSeconds),
        ['If you no longer use this account, you can ignore this email.'],
      );
    }
    case 'email_change': {
      const { name, ttlSeconds, newEmail } = mail.params;
      const url = link ?? `${settings.baseUrl.href}confirm-email/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [`You asked to use ${newEmail} for your account. The change takes effect once you confirm this address with the link below.`],
        url,
        'Confirm my new address',
        describeDuration(ttlSeconds),
        ['If you did not ask for this, ignore this email: your account keeps its current address.'],
      );
    }
    case 'email_change_notice': {
      const { name, ttlSeconds, newEmail } = mail.params;
      const url = link ?? `${settings.baseUrl.href}undo-email-change/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [
          `Someone signed in to your account asked to change its email address to ${newEmail}. The change takes effect once that address is confirmed.`,
          'If this was you, there is nothing more to do. If it was not, undo the change with this link, then reset your password:',
        ],
        url,
        'Undo the change',
        describeDuration(ttlSeconds),
        ['Undoing keeps (or puts back) this address on your account and logs out every session.'],
      );
    }
  }
}
