// The pages of two-step verification: the second step at sign-in, setting up an app, the recovery codes, and the
// "Two-Step Verification" card of /account.
import { html, SafeHtml } from '../../views/html.ts';
import { page, type Viewer } from '../../views/layout.ts';
import { csrfField, when } from '../../views/components.ts';
import { RECOVERY_CODE_COUNT, type TwoStepMethods } from './twostep.service.ts';

/** The second step's page: the code from the app, or the way to a recovery code. */
export function verifyPage(options: { csrfToken: string; error?: string | null; viaReset: boolean }): string {
  return page({
    title: 'Two-Step Verification',
    body: html`<div class="card narrow">
<h1>Two-Step Verification</h1>
${options.viaReset ? html`<p role="status">Your password was changed. Your account has two-step verification: pass it to sign in.</p>` : ''}
<p>Enter the 6-digit code your authenticator app shows for Latchkey.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/login/two-step">
  ${csrfField(options.csrfToken)}
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required maxlength="10" autofocus>
  <button type="submit">Verify</button>
</form>
<p><a href="/login/two-step/recovery">Use a recovery code</a></p>
<p><a href="/login">Cancel</a></p>
</div>`,
  });
}

/** A recovery code instead of the app's code: each works once. */
export function recoveryCodePage(options: { csrfToken: string; error?: string | null }): string {
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
<p><a href="/login/two-step">Use the authenticator app instead</a></p>
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
<p role="status">Two-step verification is on. Save these codes somewhere safe, away from your phone: if you lose the authenticator app, each code lets you sign in once. This is the only time they are shown.</p>
<ul class="codes" data-testid="recovery-codes">${options.codes.map((code) => html`<li><code>${code}</code></li>`)}</ul>
<p><a class="button" href="${options.next}">Continue</a></p>
</div>`,
  });
}

/** The "Two-Step Verification" card of /account. */
export function twoStepCard(methods: TwoStepMethods, csrfToken: string): SafeHtml {
  const app = methods.authenticator;
  return html`<div class="card" id="two-step">
<h2>Two-Step Verification</h2>
${app
    ? html`<p>On: after your password, Latchkey asks for a code from your authenticator app (set up ${when(app.createdAt)}, last used ${when(app.lastUsedAt)}).</p>
<p>Recovery codes left: <strong data-testid="recovery-codes-left">${methods.recoveryCodesLeft}</strong> of ${RECOVERY_CODE_COUNT}.</p>
<form method="post" action="/account/two-step/recovery-codes" class="inline">${csrfField(csrfToken)}<button type="submit" class="secondary">Make New Recovery Codes</button></form>
<p><a class="button secondary" href="/account/two-step/authenticator">Set Up Authenticator App</a> (replaces the current one)</p>`
    : html`<p>Off: your password alone lets you in. With two-step verification, a code from an app on your phone is needed too, even after a password reset by email.</p>
<p><a class="button" href="/account/two-step/authenticator">Set Up Authenticator App</a></p>`}
</div>`;
}

/** After the second step of an application's sign-in: the browser goes on to it from here (see twostep.pages.ts). */
export function continueToApplicationPage(next: string): string {
  return page({
    title: 'Verified',
    body: html`<div class="card narrow">
<h1>Verified</h1>
<p role="status">Two-step verification passed.</p>
<p><a class="button" href="${next}">Continue signing in</a></p>
</div>`,
  });
}
