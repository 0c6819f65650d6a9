// A French-speaking person who forgot the password, in a real browser (Debian's Chromium) that asks for French: from the
// login page to the new password and back in, without a word of English on the way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { pathOf } from '../support/pages.ts';

const NEW_PASSWORD = 'Quiet-Lantern-77';

/** Texts of these pages in English: none may show on a French page (the language switcher's "English" is not one). */
const ENGLISH = [
  'Log in',
  'Password',
  'Reset Password',
  'New Password',
  'Confirm New Password',
  'Email',
  'Remember me',
  'passkey',
  'Back to log in',
  'Check your email',
  'Your password needs',
  'The password was not accepted',
  'Change Password',
  'Choose a new password',
  'characters',
  'Hello',
];

/** The rules of the default policy, in French, in the order the form lists them. */
const RULES_FR = [
  'Au moins 8 caractères',
  'Une lettre majuscule',
  'Une lettre minuscule',
  'Un chiffre',
  'Un caractère spécial, par exemple ! ? # ou %',
  'Pas un mot de passe courant',
  'Ni votre nom ni votre adresse e-mail',
  'Au plus 128 caractères',
];

/** What the policy says in French of the password "password": every rule it breaks. */
const BROKEN_FR = [
  'Ajoutez une lettre majuscule.',
  'Ajoutez un chiffre.',
  'Ajoutez un caractère spécial, par exemple ! ? # ou %.',
  'Ce mot de passe est trop courant ; choisissez-en un plus difficile à deviner.',
];

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The emailed link points at LATCHKEY_BASE_URL; the test server listens elsewhere (see reset-journey.test.ts). */
function onTestServer(link: string, lk: TestApp): string {
  const url = new URL(link);
  return new URL(url.pathname + url.search, lk.url).toString();
}

/** The page is French: its language, its heading, and no English text of these pages in what a person reads. */
async function assertFrench(page: Page, heading: string, what: string): Promise<void> {
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr', `${what}: html lang`);
  assert.equal((await page.getByRole('heading', { level: 1 }).innerText()).trim(), heading, `${what}: heading`);
  const text = await page.locator('main').innerText();
  const english = ENGLISH.filter((phrase) => text.includes(phrase));
  assert.deepEqual(english, [], `${what}: English on the page:\n${text}`);
  await assertAccessible(page, what);
}

describe('in French', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;

  before(async () => {
    smtp = await startSmtpServer();
    lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'http://accounts.example.test/' } });
  });
  after(async () => {
    await lk?.close();
    await smtp?.close();
  });

  it('a person who forgot the password goes from the login page to the new password reading only French', { timeout: 30_000 }, async (t) => {
    const email = 'camille.roux@example.com';
    const camille = await lk.createUser({ email, name: 'Camille Roux' });
    // Her account says French: mails go out in the recipient's own language.
    await lk.services.db.updateTable('users').set({ language: 'fr' }).where('id', '=', camille.id).execute();
    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url, locale: 'fr-FR' });

    // The login page, chosen by the browser's Accept-Language.
    await page.goto('/login');
    await assertFrench(page, 'Se connecter', 'the login page');
    assert.equal(await page.title(), 'Se connecter · Latchkey');
    await page.getByLabel('Adresse e-mail', { exact: true }).waitFor();
    await page.getByLabel('Mot de passe', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Se connecter avec une clé d’accès', exact: true }).waitFor();

    // A wrong password is refused in French.
    allowStatus(401);
    await page.getByLabel('Adresse e-mail', { exact: true }).fill(email);
    await page.getByLabel('Mot de passe', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
    await page.waitForLoadState();
    assert.deepEqual(await page.getByRole('alert').allInnerTexts(), ['Adresse e-mail ou mot de passe incorrect.']);
    await assertFrench(page, 'Se connecter', 'the login page with a refused password');

    // "Réinitialiser le mot de passe" below the form, then the request form.
    await page.getByRole('link', { name: 'Réinitialiser le mot de passe', exact: true }).click();
    await page.waitForURL('**/reset-password');
    await assertFrench(page, 'Réinitialiser le mot de passe', 'the reset request page');
    await page.getByLabel('Adresse e-mail', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Réinitialiser le mot de passe', exact: true }).click();
    await page.getByText('Si un compte existe pour cette adresse, les instructions de réinitialisation du mot de passe y ont été envoyées.', { exact: true }).waitFor();
    // The link's lifetime ("1 hour") comes from the mail module's describeDuration, translated with the mails.
    await assertFrench(page, 'Consultez vos e-mails', 'the "check your email" page');

    // The mail arrives at the real SMTP server in French, and its link works.
    const mail = await smtp.waitForMail((m) => m.to.includes(email), 10_000);
    assert.equal(mail.subject, 'Réinitialisation du mot de passe de Camille Roux');
    for (const part of [mail.text, mail.html]) {
      assert.match(part, /Choisir un nouveau mot de passe|Pour choisir un nouveau mot de passe/);
      for (const phrase of ['Password reset', 'Reset Password', 'If you did not ask', 'The link', 'Hello']) assert.ok(!part.includes(phrase), `no "${phrase}" in the mail`);
    }
    assert.match(mail.html, /<html lang="fr"/);
    const link = onTestServer(resetLinkIn(mail), lk);

    // The link's page: the new-password form, its rules in French.
    await page.goto(link);
    assert.equal(pathOf(page), '/reset-password/new');
    await assertFrench(page, 'Choisissez un nouveau mot de passe', 'the new password page');
    await page.getByText('Bonjour Camille Roux, choisissez le nouveau mot de passe de votre compte.', { exact: true }).waitFor();
    await page.getByText('Exigences pour votre mot de passe :', { exact: true }).waitFor();
    assert.deepEqual(await page.locator('#rules').getByRole('listitem').allInnerTexts(), RULES_FR);

    // A weak password is refused, each broken rule said in French.
    allowStatus(400);
    await page.getByLabel('Nouveau mot de passe', { exact: true }).fill('password');
    await page.getByLabel('Confirmer le nouveau mot de passe', { exact: true }).fill('password');
    await page.getByRole('button', { name: 'Changer le mot de passe', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/reset-password/new');
    const refusal = page.getByRole('alert');
    assert.match(await refusal.innerText(), /^Le mot de passe n’a pas été accepté :/);
    assert.deepEqual(await refusal.getByRole('listitem').allInnerTexts(), BROKEN_FR);
    await assertFrench(page, 'Choisissez un nouveau mot de passe', 'the new password page with a refused password');

    // Two different passwords are refused in French too.
    allowStatus(400);
    await page.getByLabel('Nouveau mot de passe', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirmer le nouveau mot de passe', { exact: true }).fill(`${NEW_PASSWORD}!`);
    await page.getByRole('button', { name: 'Changer le mot de passe', exact: true }).click();
    await page.waitForLoadState();
    assert.deepEqual(await page.getByRole('alert').allInnerTexts(), ['Les deux mots de passe ne correspondent pas.']);

    // A good one is accepted: she is signed in, on her account page, in French.
    await page.getByLabel('Nouveau mot de passe', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirmer le nouveau mot de passe', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Changer le mot de passe', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/account?notice=password-changed');
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    await page.getByRole('button', { name: 'Se déconnecter', exact: true }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Validation en deux étapes', exact: true }).waitFor();
    await page.getByText('Votre mot de passe a été modifié. Toutes les autres sessions ont été déconnectées.', { exact: true }).waitFor();
    await assertFrench(page, 'Votre compte', 'the account page');
    // The notice of the change, in French too.
    const notice = await smtp.waitForMail((m) => m.to.includes(email) && m.subject !== mail.subject, 10_000);
    assert.equal(notice.subject, 'Votre mot de passe a été modifié');
    assert.ok(!notice.text.includes('Your password'), notice.text);

    // The link worked once: opened again, it says so in French.
    allowStatus(410);
    await page.goto(link);
    await assertFrench(page, 'Ce lien a déjà été utilisé', 'a used link\'s page');
    await page.getByRole('link', { name: 'Demander un nouveau lien', exact: true }).waitFor();

    // The old password no longer works; the new one does (the login page, still French, after logging out).
    await page.goto('/account');
    await page.getByRole('button', { name: 'Se déconnecter', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('notice') === 'logged-out');
    await page.getByText('Vous avez été déconnecté.', { exact: true }).waitFor();
    await assertFrench(page, 'Se connecter', 'the login page after logging out');
    allowStatus(401);
    await page.getByLabel('Adresse e-mail', { exact: true }).fill(email);
    await page.getByLabel('Mot de passe', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
    await page.waitForLoadState();
    assert.deepEqual(await page.getByRole('alert').allInnerTexts(), ['Adresse e-mail ou mot de passe incorrect.']);
    await page.getByLabel('Mot de passe', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account');
  });
});
