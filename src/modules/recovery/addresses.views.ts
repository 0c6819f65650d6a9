// The pages of address links: confirm an address (or a new address), undo an address change, and what came of it.
import { html } from '../../views/html.ts';
import { page } from '../../views/layout.ts';
import { csrfField } from '../../views/components.ts';

/** Before the link is used: opening it (a mail scanner does too) changes nothing; the button does. */
export function confirmAddressPage(options: { csrfToken: string; name: string; email: string; change: boolean }): string {
  const title = options.change ? 'Confirm Your New Email Address' : 'Confirm Your Email Address';
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p>${options.change
      ? `Hello ${options.name}, confirm that ${options.email} is your new email address. Your account uses it from then on.`
      : `Hello ${options.name}, confirm that ${options.email} is your email address.`}</p>
<form method="post" action="/confirm-email/confirm">
  ${csrfField(options.csrfToken)}
  <button type="submit">Confirm Email Address</button>
</form>
</div>`,
  });
}

export function addressConfirmedPage(options: { email: string; change: boolean; signedIn: boolean }): string {
  const title = options.change ? 'Email address changed' : 'Email address confirmed';
  return page({
    title,
    body: html`<div class="card narrow">
<h1>${title}</h1>
<p role="status">${options.change ? `Your account now uses ${options.email}. Log in with it from now on.` : `Thank you: ${options.email} is confirmed.`}</p>
<p><a class="button" href="${options.signedIn ? '/account' : '/login'}">${options.signedIn ? 'Go to your account' : 'Log in'}</a></p>
</div>`,
  });
}

export function undoChangePage(options: { csrfToken: string; name: string; email: string }): string {
  return page({
    title: 'Undo Email Change',
    body: html`<div class="card narrow">
<h1>Undo Email Change</h1>
<p>Hello ${options.name}, keep ${options.email} as the email address of your account? A pending change is called off, a change already made is undone, and every session of the account is logged out.</p>
<form method="post" action="/undo-email-change/confirm">
  ${csrfField(options.csrfToken)}
  <button type="submit">Undo Email Change</button>
</form>
</div>`,
  });
}

export function changeUndonePage(email: string): string {
  return page({
    title: 'Email change undone',
    body: html`<div class="card narrow">
<h1>Email change undone</h1>
<p role="status">Your account uses ${email} again, and every session was logged out.</p>
<p>If you did not ask for the change, someone may know your password: choose a new one now.</p>
<p><a class="button" href="/reset-password">Reset Password</a></p>
</div>`,
  });
}

/** The address could not be put on the account (someone else has it now); the link still works later. */
export function addressRefusedPage(message: string): string {
  return page({
    title: 'The address could not be changed',
    body: html`<div class="card narrow">
<h1>The address could not be changed</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/login">Back to log in</a></p>
</div>`,
  });
}
