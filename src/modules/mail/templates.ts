// Every email Latchkey sends, its subject and its text and HTML parts, in one place per mail.
import { html, type SafeHtml } from '../../views/html.ts';

export type MailTemplate =
  | { template: 'reset'; params: { name: string; ttlSeconds: number; sentByAdministrator: boolean } }
  | { template: 'password_changed'; params: { name: string; changedAt: number; how: 'reset' | 'account' | 'command line' | 'administrator' } }
  | { template: 'test'; params: Record<string, never> }
  | { template: 'security_alert'; params: { title: string; alerts: Array<{ summary: string; at: number }> } }
  | { template: 'two_step_removed'; params: { name: string; removedAt: number } };

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
  }
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
      const byWhom = how === 'administrator' ? ' by an administrator' : how === 'command line' ? ' from the command line' : '';
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
  }
}
