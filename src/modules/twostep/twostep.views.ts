// The pages of two-step verification: the second step at sign-in, setting up an app, adding a passkey, the recovery
// codes, the "Two-Step Verification" card of /account, and the "Log in with a passkey" form of the login pages.
import { html, SafeHtml } from '../../views/html.ts';
import { page, type Viewer } from '../../views/layout.ts';
import { csrfField, when } from '../../views/components.ts';
import { RECOVERY_CODE_COUNT, twoStepOn, type TwoStepMethods } from './twostep.service.ts';

/** The same-origin scripts of a page with a passkey form: the library's bundle, then Latchkey's ceremony. */
const passkeyScripts = html`<script src="/assets/webauthn.js" defer></script><script src="/assets/passkeys.js" defer></script>`;

/**
 * A form whose button runs a passkey ceremony in the browser (/assets/passkeys.js) and posts the answer in `response`;
 * without JavaScript it posts nothing the server can use, and says so beforehand.
 */
function passkeyForm(options: { ceremony: 'register' | 'second-step' | 'sign-in'; action: string; csrfToken: string; button: string; fields?: SafeHtml; secondary?: boolean }): SafeHtml {
  return html`<form method="post" action="${options.action}" data-passkey="${options.ceremony}"
 data-unsupported="This browser cannot use passkeys." data-failed="The passkey was not used: the browser's prompt was closed, or the passkey did not answer. Try again.">
  ${csrfField(options.csrfToken)}
  ${options.fields ?? ''}
  <input type="hidden" name="response" value="">
  <p class="error" role="alert" data-passkey-status hidden></p>
  <button type="submit"${options.secondary ? html` class="secondary"` : ''}>${options.button}</button>
  <noscript><p class="muted">Passkeys need JavaScript, which is off in this browser.</p></noscript>
</form>
${passkeyScripts}`;
}

/** The second step's page: the code from the app and/or a passkey, as the user has them, or the way to a recovery code. */
export function verifyPage(options: { csrfToken: string; error?: string | null; viaReset: boolean; app: boolean; passkeys: boolean }): string {
  return page({
    title: 'Two-Step Verification',
    body: html`<div class="card narrow">
<h1>Two-Step Verification</h1>
${options.viaReset ? html`<p role="status">Your password was changed. Your account has two-step verification: pass it to sign in.</p>` : ''}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
${options.app
    ? html`<p>Enter the 6-digit code your authenticator app shows for Latchkey.</p>
<form method="post" action="/login/two-step">
  ${csrfField(options.csrfToken)}
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required maxlength="10" autofocus>
  <button type="submit">Verify</button>
</form>`
    : ''}
${options.passkeys
    ? html`<p>${options.app ? 'Or use one of your passkeys.' : 'Use one of your passkeys to finish signing in.'}</p>
${passkeyForm({ ceremony: 'second-step', action: '/login/two-step/passkey', csrfToken: options.csrfToken, button: 'Use a passkey', secondary: options.app })}`
    : ''}
<p><a href="/login/two-step/recovery">Use a recovery code</a></p>
<p><a href="/login">Cancel</a></p>
</div>`,
  });
}

/** A recovery code instead of the app's code or a passkey: each works once. */
export function recoveryCodePage(options: { csrfToken: string; error?: string | null; app: boolean }): string {
  return page({
    title: 'Use a recovery code',
    body: html`<div class="card narrow">
<h1>Use a recovery code</h1>
<p>Enter one of the recovery codes you saved when you set up two-step verification. Each code works once.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/login/two-step/recovery">
  ${csrfField(options.csrfToken)}
  <label for="recovery-code">Recovery code</label>
  <input id="recovery-code" name="code" type="text" autocomplete="off" spellcheck="false" required maxlength="20" autofocus>
  <button type="submit">Verify</button>
</form>
<p><a href="/login/two-step">${options.app ? 'Use the authenticator app instead' : 'Use a passkey instead'}</a></p>
<p>Lost both? Ask an administrator to remove two-step verification from your account.</p>
</div>`,
  });
}

/** The QR code drawn on the server, named for screen readers. */
function qrFigure(svg: string): SafeHtml {
  return new SafeHtml(`<div class="qr">${svg.replace('<svg ', '<svg role="img" aria-label="QR code for your authenticator app" width="200" height="200" ')}</div>`);
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
    title: 'Set Up Authenticator App',
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>Set Up Authenticator App</h1>
${options.required ? html`<p role="status">Your organisation requires two-step verification for your account. Set it up now to continue.</p>` : ''}
<ol>
<li>Open an authenticator app on your phone and add an account by scanning this QR code.</li>
<li>Or type this key into the app: <code data-testid="authenticator-secret">${grouped}</code></li>
<li>Enter the 6-digit code the app then shows.</li>
</ol>
${qrFigure(options.qrSvg)}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="${options.action}">
  ${csrfField(options.csrfToken)}
  <input type="hidden" name="setup" value="${options.sealedSetup}">
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required maxlength="10">
  <button type="submit">Verify</button>
</form>
${options.required
    ? html`<h2>Or add a passkey</h2>
<p>A passkey on this device, a phone or a security key can be your second step instead of an app.</p>
${passkeyForm({ ceremony: 'register', action: '/login/two-step/new-passkey', csrfToken: options.csrfToken, button: 'Add a Passkey', fields: passkeyNameField(''), secondary: true })}`
    : ''}
<p><a href="${options.required ? '/login' : '/account'}">Cancel</a></p>
</div>`,
  });
}

/** The recovery codes, shown once. */
export function recoveryCodesPage(options: { csrfToken: string; viewer: Viewer; codes: string[]; next: string }): string {
  return page({
    title: 'Your recovery codes',
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>Your recovery codes</h1>
<p role="status">Two-step verification is on. Save these codes somewhere safe, away from your phone: if you lose your authenticator app or passkeys, each code lets you sign in once. This is the only time they are shown.</p>
<ul class="codes" data-testid="recovery-codes">${options.codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
<p><a class="button" href="${options.next}">Continue</a></p>
</div>`,
  });
}

/** The "Two-Step Verification" card of /account: the app, each passkey (with "Remove"), the recovery codes. */
export function twoStepCard(methods: TwoStepMethods, csrfToken: string): SafeHtml {
  const app = methods.authenticator;
  const on = twoStepOn(methods);
  return html`<div class="card" id="two-step">
<h2>Two-Step Verification</h2>
${on
    ? html`<p>On: after your password, Latchkey asks for ${app && methods.passkeys.length > 0 ? 'a code from your authenticator app or one of your passkeys' : app ? 'a code from your authenticator app' : 'one of your passkeys'}.</p>`
    : html`<p>Off: your password alone lets you in. With two-step verification, a code from an app on your phone or a passkey is needed too, even after a password reset by email.</p>`}
${app ? html`<p>Authenticator app: set up ${when(app.createdAt)}, last used ${when(app.lastUsedAt)}.</p>` : ''}
${methods.passkeys.length > 0
    ? html`<table data-testid="passkeys">
<caption>Your passkeys</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col">Logs in without a password</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
<tbody>${methods.passkeys.map(
        (passkey) => html`<tr><td>${passkey.name}</td><td>${when(passkey.createdAt)}</td><td>${when(passkey.lastUsedAt)}</td><td>${passkey.passwordless ? 'Yes' : 'No'}</td>
<td><form method="post" action="/account/two-step/passkeys/${passkey.id}/remove" class="inline">${csrfField(csrfToken)}<button type="submit" class="secondary">Remove<span class="visually-hidden"> ${passkey.name}</span></button></form></td></tr>`,
      )}</tbody>
</table>`
    : ''}
${on
    ? html`<p>Recovery codes left: <strong data-testid="recovery-codes-left">${methods.recoveryCodesLeft}</strong> of ${RECOVERY_CODE_COUNT}.</p>
<form method="post" action="/account/two-step/recovery-codes" class="inline">${csrfField(csrfToken)}<button type="submit" class="secondary">Make New Recovery Codes</button></form>`
    : ''}
<p><a class="button${on ? ' secondary' : ''}" href="/account/two-step/authenticator">Set Up Authenticator App</a>${app ? ' (replaces the current one)' : ''}
<a class="button secondary" href="/account/two-step/passkey">Add a Passkey</a></p>
</div>`;
}

function passkeyNameField(value: string): SafeHtml {
  return html`<label for="passkey-name">Passkey name</label>
  <input id="passkey-name" name="name" type="text" required maxlength="60" autocomplete="off" value="${value}" aria-describedby="passkey-name-hint">
  <p class="muted" id="passkey-name-hint">A name that tells you where the passkey is, such as "Work laptop" or "Phone".</p>`;
}

/** "Add a Passkey": its name, whether it may log in alone, then the browser's ceremony. */
export function addPasskeyPage(options: { csrfToken: string; viewer: Viewer; error?: string | null; name?: string }): string {
  const fields = html`${passkeyNameField(options.name ?? '')}
  <p><label class="check"><input name="passwordless" type="checkbox" value="yes"> Use this passkey to log in without a password</label></p>`;
  return page({
    title: 'Add a Passkey',
    viewer: options.viewer,
    csrfToken: options.csrfToken,
    body: html`<div class="card narrow">
<h1>Add a Passkey</h1>
<p>A passkey lives on this device, a phone or a security key, and is unlocked with your fingerprint, face, PIN or a touch. After your password, Latchkey can ask for it instead of a code.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
${passkeyForm({ ceremony: 'register', action: '/account/two-step/passkey', csrfToken: options.csrfToken, button: 'Add a Passkey', fields })}
<p><a href="/account">Cancel</a></p>
</div>`,
  });
}

/** "Log in with a passkey" under the login form, for passkeys their owners set up for logging in without a password. */
export function passkeySignInForm(csrfToken: string, next: string | undefined): SafeHtml {
  const action = `/login/passkey${next ? `?next=${encodeURIComponent(next)}` : ''}`;
  return passkeyForm({ ceremony: 'sign-in', action, csrfToken, button: 'Log in with a passkey', secondary: true });
}

/** After the second step (or a passkey login) of an application's sign-in: the browser goes on to it from here (see twostep.pages.ts). */
export function continueToApplicationPage(next: string, status = 'Two-step verification passed.'): string {
  return page({
    title: 'Verified',
    body: html`<div class="card narrow">
<h1>Verified</h1>
<p role="status">${status}</p>
<p><a class="button" href="${next}">Continue signing in</a></p>
</div>`,
  });
}
