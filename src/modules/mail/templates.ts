// Every email Latchkey sends, its subject and its text and HTML parts, in one place per mail.
import { t, translator } from '../../infra/i18n.ts';
import { when } from '../../views/components.ts';
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

/** "24 hours", "1 hour", "15 minutes": the link lifetime as a person reads it, in the reader's language. */
export function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0 && seconds >= 2 * 86400) return t('mail.duration.days', { count: seconds / 86400 });
  if (seconds % 3600 === 0) return t('mail.duration.hours', { count: seconds / 3600 });
  if (seconds >= 60) return t('mail.duration.minutes', { count: Math.round(seconds / 60) });
  return t('mail.duration.seconds', { count: seconds });
}

function frame(title: string, body: SafeHtml): string {
  const { lang, dir } = translator();
  return '<!doctype html>' + html`<html lang="${lang}" dir="${dir}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>
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
      return t('mail.reset.subject', { name: mail.params.name });
    case 'password_changed':
      return t('mail.passwordChanged.subject');
    case 'test':
      return t('mail.test.subject');
    case 'security_alert':
      return t('mail.securityAlert.subject', { title: mail.params.title });
    case 'two_step_removed':
      return t('mail.twoStepRemoved.subject');
    case 'invitation':
      return t('mail.invitation.subject', { name: mail.params.name });
    case 'confirm_email':
      return t('mail.confirmEmail.subject');
    case 'email_change':
      return t('mail.emailChange.subject');
    case 'email_change_notice':
      return t('mail.emailChangeNotice.subject');
  }
}

function button(url: string, label: string): SafeHtml {
  return html`<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">${label}</a></p>`;
}

/** A mail built around one link: greeting, paragraphs, the button, how long the link works, and the closing words. */
function linkMail(subject: string, name: string, before: string[], url: string, label: string, validity: string, after: string[]): RenderedMail {
  const hello = t('mail.common.hello', { name });
  const valid = t('mail.common.validity', { validity });
  const signature = t('mail.common.signature');
  const text = [hello, '', ...before.flatMap((line) => [line, '']), url, '', valid, '', ...after.flatMap((line) => [line, '']), signature].join('\n');
  const body = html`<p>${hello}</p>
${before.map((line) => html`<p>${line}</p>`)}
${button(url, label)}
<p>${valid} ${t('mail.common.copyAddress')}<br><span style="word-break:break-all">${url}</span></p>
${after.map((line) => html`<p>${line}</p>`)}
<p>${signature}</p>`;
  return { subject, text, html: frame(subject, body) };
}

/** The sentence that says how the password was changed, one whole sentence per way so that each language can word it. */
function passwordChangedSentence(how: Extract<MailTemplate, { template: 'password_changed' }>['params']['how'], at: string): string {
  switch (how) {
    case 'administrator':
      return t('mail.passwordChanged.changedByAdministrator', { when: at });
    case 'command line':
      return t('mail.passwordChanged.changedFromCommandLine', { when: at });
    case 'invitation':
      return t('mail.passwordChanged.changedWithInvitation', { when: at });
    case 'reset':
    case 'account':
      return t('mail.passwordChanged.changed', { when: at });
  }
}

/** The reset link is passed separately: the queue stores only a sealed token, and shows a masked one. Texts come in the
 * language of the work in hand (the outbox renders each mail inside inLanguage for its recipient). */
export function renderMail(mail: MailTemplate, link: string | null, settings: MailSettings): RenderedMail {
  const signature = t('mail.common.signature');
  switch (mail.template) {
    case 'reset': {
      const { name, ttlSeconds, sentByAdministrator } = mail.params;
      const validity = describeDuration(ttlSeconds);
      const url = link ?? `${settings.baseUrl.href}reset-password/••••••••`;
      const why = sentByAdministrator ? t('mail.reset.whyAdministrator') : t('mail.reset.whySelf');
      const subject = subjectOf(mail);
      const hello = t('mail.common.hello', { name });
      const valid = t('mail.common.validity', { validity });
      const ignore = t('mail.reset.ignore');
      const text = [hello, '', why, t('mail.reset.openLink'), '', url, '', valid, '', ignore, '', signature].join('\n');
      const body = html`<p>${hello}</p>
<p>${why}</p>
<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">${t('mail.reset.button')}</a></p>
<p>${valid} ${t('mail.common.copyAddress')}<br><span style="word-break:break-all">${url}</span></p>
<p>${ignore}</p>
<p>${signature}</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'password_changed': {
      const { name, changedAt, how } = mail.params;
      const subject = subjectOf(mail);
      const resetUrl = `${settings.baseUrl.href}reset-password`;
      const hello = t('mail.common.hello', { name });
      const changed = passwordChangedSentence(how, when(changedAt));
      const wasYou = t('mail.passwordChanged.wasYou');
      const text = [hello, '', changed, '', wasYou, t('mail.passwordChanged.ifNotText', { url: resetUrl }), '', signature].join('\n');
      const body = html`<p>${hello}</p>
<p>${changed}</p>
<p>${wasYou}</p>
<p>${t('mail.passwordChanged.ifNotBefore')}<a href="${resetUrl}">${t('mail.passwordChanged.ifNotLink')}</a>${t('mail.passwordChanged.ifNotAfter')}</p>
<p>${signature}</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'test': {
      const subject = subjectOf(mail);
      const line = t('mail.test.body');
      const text = `${line}\n\n${signature}`;
      const body = html`<p>${line}</p><p>${signature}</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'security_alert': {
      const { title, alerts } = mail.params;
      const subject = subjectOf(mail);
      const url = `${settings.baseUrl.href}admin/security`;
      const raised = t('mail.securityAlert.raised');
      const limits = t('mail.securityAlert.limits');
      const items = alerts.map((alert) => t('mail.securityAlert.item', { when: when(alert.at), summary: alert.summary }));
      const text = [
        t('mail.common.helloNoName'),
        '',
        `${raised} ${title}.`,
        '',
        ...items.map((item) => `- ${item}`),
        '',
        t('mail.securityAlert.seeText', { url }),
        '',
        limits,
        '',
        signature,
      ].join('\n');
      const body = html`<p>${t('mail.common.helloNoName')}</p>
<p>${raised} <strong>${title}</strong>.</p>
<ul>${items.map((item) => html`<li>${item}</li>`)}</ul>
<p><a href="${url}" style="display:inline-block;padding:12px 20px;background:#2456c9;color:#ffffff;border-radius:6px;text-decoration:none">${t('mail.securityAlert.button')}</a></p>
<p>${t('mail.securityAlert.acknowledge')} ${limits}</p>
<p>${signature}</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'two_step_removed': {
      const { name, removedAt } = mail.params;
      const subject = subjectOf(mail);
      const accountUrl = `${settings.baseUrl.href}account`;
      const hello = t('mail.common.hello', { name });
      const removed = t('mail.twoStepRemoved.removed', { when: when(removedAt) });
      const tell = t('mail.twoStepRemoved.tellAdministrator');
      const text = [hello, '', removed, '', t('mail.twoStepRemoved.setUpText', { url: accountUrl }), tell, '', signature].join('\n');
      const body = html`<p>${hello}</p>
<p>${removed}</p>
<p><a href="${accountUrl}">${t('mail.twoStepRemoved.setUpLink')}</a>${t('mail.twoStepRemoved.setUpAfter')}</p>
<p>${tell}</p>
<p>${signature}</p>`;
      return { subject, text, html: frame(subject, body) };
    }
    case 'invitation': {
      const { name, ttlSeconds } = mail.params;
      const url = link ?? `${settings.baseUrl.href}invitation/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [t('mail.invitation.created', { host: settings.baseUrl.host }), t('mail.invitation.openLink')],
        url,
        t('mail.invitation.button'),
        describeDuration(ttlSeconds),
        [t('mail.invitation.expired')],
      );
    }
    case 'confirm_email': {
      const { name, ttlSeconds } = mail.params;
      const url = link ?? `${settings.baseUrl.href}confirm-email/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [t('mail.confirmEmail.asked')],
        url,
        t('mail.confirmEmail.button'),
        describeDuration(ttlSeconds),
        [t('mail.confirmEmail.ignore')],
      );
    }
    case 'email_change': {
      const { name, ttlSeconds, newEmail } = mail.params;
      const url = link ?? `${settings.baseUrl.href}confirm-email/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [t('mail.emailChange.asked', { newEmail })],
        url,
        t('mail.emailChange.button'),
        describeDuration(ttlSeconds),
        [t('mail.emailChange.ignore')],
      );
    }
    case 'email_change_notice': {
      const { name, ttlSeconds, newEmail } = mail.params;
      const url = link ?? `${settings.baseUrl.href}undo-email-change/••••••••`;
      return linkMail(
        subjectOf(mail),
        name,
        [t('mail.emailChangeNotice.asked', { newEmail }), t('mail.emailChangeNotice.undo')],
        url,
        t('mail.emailChangeNotice.button'),
        describeDuration(ttlSeconds),
        [t('mail.emailChangeNotice.undoing')],
      );
    }
  }
}
