// The pages of two-step verification: the second step at sign-in, setting up an app, adding a passkey, the recovery
// codes, the "Two-Step Verification" card of /account, and the "Log in with a passkey" form of the login pages.
import { escapeHtml, html, SafeHtml } from '../../views/html.ts';
import { page, type Viewer } from '../../views/layout.ts';
import { csrfField, when } from '../../views/components.ts';
import { t } from '../../infra/i18n.ts';
import { RECOVERY_CODE_COUNT, twoStepOn, type TwoStepMethods } from './twostep.service.ts';

/** The same-origin scripts of a page with a passkey form: the library's bundle, then Latchkey's ceremony. */
const passkeyScripts = html`<script src="/assets/webauthn.js" defer></script><script src="/assets/passkeys.js" defer></script>`;

/**
 * A form whose button runs a passkey ceremony in the browser (/assets/passkeys.js) and posts the answer in `response`;
 * without JavaScript it posts nothing the server can use, and says so beforehand.
 */
function passkeyForm(options: { ceremony: 'register' | 'second-step' | 'sign-in'; action: string; csrfToken: string; button: string; fields?: SafeHtml; secondary?: boolean }): SafeHtml {
  return html`<form method="post" action="${options.action}" data-passkey="${options.ceremony}"
 data-unsupported="${t('twostep.passkeyForm.unsupported')}" data-failed="${t('twostep.passkeyForm.failed')}">
  ${csrfField(options.csrfToken)}
  ${options.fields ?? ''}
  <input type="hidden" name="response" value="">
  <p class="error" role="alert" data-passkey-status hidden></p>
  <button type="submit"${options.secondary ? html` class="secondary"` : ''}>${options.button}</button>
  <noscript><p class="muted">${t('twostep.passkeyForm.noScript')}</p></noscript>
</form>
${passkeyScripts}`;
}

/** The second step's page: the code from the app and/or a passkey, as the user has them, or the way to a recovery code. */
export function verifyPage(options: { csrfToken: string; error?: string | null; viaReset: boolean; app: boolean; passkeys: boolean }): string {
  return page({
    title: t('twostep.verify.title'),
    body: html`<div class="card narrow">
<h1>${t('twostep.verify.title')}</h1>
${options.viaReset ? html`<p role="status">${t('twostep.verify.viaReset')}</p>` : ''}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
${options.app
    ? html`<p>${t('twostep.verify.enterCode')}</p>
<form method="post" action="/login/two-step">
  ${csrfField(options.csrfToken)}
  <label for="code">${t('twostep.verificationCode')}</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required maxlength="10" autofocus>
  <button type="submit">${t('twostep.verify.submit')}</button>
</form>`
    : ''}
${options.passkeys
    ? html`<p>${options.app ? t('twostep.verify.orPasskey') : t('twostep.verify.usePasskey')}</p>
${passkeyForm({ ceremony: 'second-step', action: '/login/two-step/passkey', csrfToken: options.csrfToken, button: t('twostep.verify.passkeyButton'), secondary: options.app })}`
    : ''}
<p><a href="/login/two-step/recovery">${t('twostep.recoveryCode.title')}</a></p>
<p><a href="/login">${t('twostep.cancel')}</a></p>
</div>`,
  });
}

/** A recovery code instead of the app's code or a passkey: each works once. */
export function recoveryCodePage(options: { csrfToken: string; error?: string | null; app: boolean }): string {
  return page({
    title: t('twostep.recoveryCode.title'),
    body: html`<div class="card narrow">
<h1>${t('twostep.recoveryCode.title')}</h1>
<p>${t('twostep.recoveryCode.intro')}</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/login/two-step/recovery">
  ${csrfField(options.csrfToken)}
  <label for="recovery-code">${t('twostep.recoveryCode.label')}</label>
  <input id="recovery-code" name="code" type="text" autocomplete="off" spellcheck="false" required maxlength="20" autofocus>
  <button type="submit">${t('twostep.verify.submit')}</button>
</form>
<p><a href="/login/two-step">${options.app ? t('twostep.recoveryCode.useApp') : t('twostep.recoveryCode.usePasskey')}</a></p>
<p>${t('twostep.recoveryCode.lostBoth')}</p>
</div>`,
  });
}

/** The QR code drawn on the server, named for screen readers. */
function qrFigure(svg: string): SafeHtml {
  const label = escapeHtml(t('twostep.setup.qrLabel'));
  // A function replacement, so no "$" in a translation is read as a replacement pattern.
  return new SafeHtml(`<div class="qr">${svg.replace('<svg ', () => `<svg role="img" aria-label="${label}" width="200" height="200" `)}</div>`);
}

/** Setting up an app: scan the QR code (or type the key), then confirm with the first code. */
export function setupPage(options: {
  csrfToken: string;
  viewer?: Viewer;
  action: string;
  sealedSetup: string;
  secret: string;
  qrSvg: string;
  error?: string | null;
  /** At sign-in, when the settings require two-step verification. */
  required?: boolean;
}): string {
  const grouped = options.secret.match(/.{1,4}/g)!.join(' ');
  return page({
    title: t('twostep.setup.title'),
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>${t('twostep.setup.title')}</h1>
${options.required ? html`<p role="status">${t('twostep.setup.required')}</p>` : ''}
<ol>
<li>${t('twostep.setup.scan')}</li>
<li>${t('twostep.setup.typeKey')} <code data-testid="authenticator-secret">${grouped}</code></li>
<li>${t('twostep.setup.enterCode')}</li>
</ol>
${qrFigure(options.qrSvg)}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="${options.action}">
  ${csrfField(options.csrfToken)}
  <input type="hidden" name="setup" value="${options.sealedSetup}">
  <label for="code">${t('twostep.verificationCode')}</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required maxlength="10">
  <button type="submit">${t('twostep.verify.submit')}</button>
</form>
${options.required
    ? html`<h2>${t('twostep.setup.orPasskey')}</h2>
<p>${t('twostep.setup.passkeyIntro')}</p>
${passkeyForm({ ceremony: 'register', action: '/login/two-step/new-passkey', csrfToken: options.csrfToken, button: t('twostep.addPasskey.title'), fields: passkeyNameField(''), secondary: true })}`
    : ''}
<p><a href="${options.required ? '/login' : '/account'}">${t('twostep.cancel')}</a></p>
</div>`,
  });
}

/** The recovery codes, shown once. */
export function recoveryCodesPage(options: { csrfToken: string; viewer: Viewer; codes: string[]; next: string }): string {
  return page({
    title: t('twostep.codes.title'),
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>${t('twostep.codes.title')}</h1>
<p role="status">${t('twostep.codes.intro')}</p>
<ul class="codes" data-testid="recovery-codes">${options.codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
<p><a class="button" href="${options.next}">${t('twostep.codes.continue')}</a></p>
</div>`,
  });
}

/** The "Two-Step Verification" card of /account: the app, each passkey (with "Remove"), the recovery codes. */
export function twoStepCard(methods: TwoStepMethods, csrfToken: string): SafeHtml {
  const app = methods.authenticator;
  const on = twoStepOn(methods);
  return html`<div class="card" id="two-step">
<h2>${t('twostep.verify.title')}</h2>
${on
    ? html`<p>${app && methods.passkeys.length > 0 ? t('twostep.card.onBoth') : app ? t('twostep.card.onApp') : t('twostep.card.onPasskeys')}</p>`
    : html`<p>${t('twostep.card.off')}</p>`}
${app ? html`<p>${t('twostep.card.app', { setUp: when(app.createdAt), lastUsed: when(app.lastUsedAt) })}</p>` : ''}
${methods.passkeys.length > 0
    ? html`<table data-testid="passkeys">
<caption>${t('twostep.card.passkeys')}</caption>
<thead><tr><th scope="col">${t('twostep.card.name')}</th><th scope="col">${t('twostep.card.added')}</th><th scope="col">${t('twostep.card.lastUsed')}</th><th scope="col">${t('twostep.card.passwordless')}</th><th scope="col"><span class="visually-hidden">${t('twostep.card.remove')}</span></th></tr></thead>
<tbody>${methods.passkeys.map(
        (passkey) => html`<tr><td>${passkey.name}</td><td>${when(passkey.createdAt)}</td><td>${when(passkey.lastUsedAt)}</td><td>${passkey.passwordless ? t('twostep.card.yes') : t('twostep.card.no')}</td>
<td><form method="post" action="/account/two-step/passkeys/${passkey.id}/remove" class="inline">${csrfField(csrfToken)}<button type="submit" class="secondary">${t('twostep.card.remove')}<span class="visually-hidden"> ${passkey.name}</span></button></form></td></tr>`,
      )}</tbody>
</table>`
    : ''}
${on
    ? html`<p>${t('twostep.card.codesLeft')} <strong data-testid="recovery-codes-left">${methods.recoveryCodesLeft}</strong> ${t('twostep.card.codesOf', { total: RECOVERY_CODE_COUNT })}</p>
<form method="post" action="/account/two-step/recovery-codes" class="inline">${csrfField(csrfToken)}<button type="submit" class="secondary">${t('twostep.card.newCodes')}</button></form>`
    : ''}
<p><a class="button${on ? ' secondary' : ''}" href="/account/two-step/authenticator">${t('twostep.setup.title')}</a>${app ? ` ${t('twostep.card.replaces')}` : ''}
<a class="button secondary" href="/account/two-step/passkey">${t('twostep.addPasskey.title')}</a></p>
</div>`;
}

function passkeyNameField(value: string): SafeHtml {
  return html`<label for="passkey-name">${t('twostep.addPasskey.name')}</label>
  <input id="passkey-name" name="name" type="text" required maxlength="60" autocomplete="off" value="${value}" aria-describedby="passkey-name-hint">
  <p class="muted" id="passkey-name-hint">${t('twostep.addPasskey.nameHint')}</p>`;
}

/** "Add a Passkey": its name, whether it may log in alone, then the browser's ceremony. */
export function addPasskeyPage(options: { csrfToken: string; viewer: Viewer; error?: string | null; name?: string }): string {
  const fields = html`${passkeyNameField(options.name ?? '')}
  <p><label class="check"><input name="passwordless" type="checkbox" value="yes"> ${t('twostep.addPasskey.passwordless')}</label></p>`;
  return page({
    title: t('twostep.addPasskey.title'),
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>${t('twostep.addPasskey.title')}</h1>
<p>${t('twostep.addPasskey.intro')}</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
${passkeyForm({ ceremony: 'register', action: '/account/two-step/passkey', csrfToken: options.csrfToken, button: t('twostep.addPasskey.title'), fields })}
<p><a href="/account">${t('twostep.cancel')}</a></p>
</div>`,
  });
}

/** "Log in with a passkey" under the login form, for passkeys their owners set up for logging in without a password. */
export function passkeySignInForm(csrfToken: string, next: string | undefined): SafeHtml {
  const action = `/login/passkey${next ? `?next=${encodeURIComponent(next)}` : ''}`;
  return passkeyForm({ ceremony: 'sign-in', action, csrfToken, button: t('twostep.passkeySignIn'), secondary: true });
}

/** After the second step (or a passkey login) of an application's sign-in: the browser goes on to it from here (see twostep.pages.ts). */
export function continueToApplicationPage(next: string, status = t('twostep.continue.passed')): string {
  return page({
    title: t('twostep.continue.title'),
    body: html`<div class="card narrow">
<h1>${t('twostep.continue.title')}</h1>
<p role="status">${status}</p>
<p><a class="button" href="${next}">${t('twostep.continue.link')}</a></p>
</div>`,
  });
}
