// Mails in their recipient's language: the user's own, else LATCHKEY_LANGUAGE; the Language setting on /account, in
// the console's Edit form and in the API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { textOf, WebClient } from './support/client.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';

describe('mails in the recipient language', () => {
  let smtp: TestSmtpServer;
  let lk: TestApp;
  let admin: WebClient;

  const signIn = async (email: string, password = GOOD_PASSWORD) => {
    const client = new WebClient(lk.url);
    await client.get('/login');
    await client.post('/login', { email, password });
    return client;
  };

  before(async () => {
    smtp = await startSmtpServer();
    // The installation speaks Spanish to those who chose no language.
    lk = await startTestApp({ smtpUrl: smtp.url, env: { LATCHKEY_BASE_URL: 'https://accounts.example.test/', LATCHKEY_LANGUAGE: 'es' } });
    const root = await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    await lk.services.users.setLanguage(root.id, 'en', COMMAND_LINE);
    admin = await signIn('root@example.com');
  });
  after(async () => {
    await lk.close();
    await smtp.close();
  });

  it('an English console sends a German user password reset instructions in German, and the link works', async () => {
    const greta = await lk.createUser({ email: 'greta@example.com', name: 'Greta Gruber' });
    await lk.services.users.setLanguage(greta.id, 'de', COMMAND_LINE);
    let page = await admin.get(`/admin/users/${greta.id}/send-reset`);
    assert.match(page.html, /<html lang="en"/);
    page = await admin.post(`/admin/users/${greta.id}/send-reset`, {});
    assert.match(textOf(page.html), /Password reset instructions sent to greta@example\.com/);
    const mail = await smtp.waitForMail((m) => m.to.includes('greta@example.com'));
    assert.equal(mail.subject, 'Passwort zurücksetzen für Greta Gruber');
    assert.match(mail.text, /^Hallo Greta Gruber,/);
    assert.match(mail.text, /Ein Administrator hat Ihnen diese Anleitung gesendet/);
    assert.match(mail.text, /Der Link ist \d+ (Stunde|Stunden|Minuten|Tage) lang gültig und funktioniert nur einmal\./);
    assert.match(mail.html, /<html lang="de" dir="ltr">/);
    assert.match(mail.html, />Neues Passwort wählen</);
    const link = resetLinkIn(mail);
    const reader = new WebClient(lk.url);
    page = await reader.get(new URL(link).pathname);
    assert.equal(page.status, 200);
    page = await reader.post('/reset-password/new', { password: 'Silver-Maple-7788', confirmation: 'Silver-Maple-7788' });
    assert.equal(page.status, 200);
    const notice = await smtp.waitForMail((m) => m.to.includes('greta@example.com') && m.subject === 'Ihr Passwort wurde geändert');
    assert.match(notice.text, /Das Passwort Ihres Kontos wurde am /);
  });

  it("a French user's password-change notice is in French", async () => {
    const user = await lk.createUser({ email: 'francoise@example.com', name: 'Françoise Faure' });
    await lk.services.users.setLanguage(user.id, 'fr', COMMAND_LINE);
    const client = await signIn('francoise@example.com');
    const page = await client.get('/account');
    assert.match(page.html, /<html lang="fr"/);
    await client.post('/account/password', { current: GOOD_PASSWORD, password: 'Silver-Maple-7788', confirmation: 'Silver-Maple-7788' });
    const mail = await smtp.waitForMail((m) => m.to.includes('francoise@example.com'));
    assert.equal(mail.subject, 'Votre mot de passe a été modifié');
    assert.match(mail.text, /^Bonjour Françoise Faure,/);
    assert.match(mail.text, /Le mot de passe de votre compte a été modifié le \d{1,2} \S+ \d{4}/);
    assert.match(mail.text, /Sinon, réinitialisez votre mot de passe sans attendre sur https:\/\/accounts\.example\.test\/reset-password/);
    assert.match(mail.html, /<html lang="fr" dir="ltr">/);
  });

  it('a user without a language gets mails in LATCHKEY_LANGUAGE', async () => {
    const user = await lk.createUser({ email: 'sin.idioma@example.com', name: 'Sol Sánchez' });
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'admin');
    const mail = await smtp.waitForMail((m) => m.to.includes('sin.idioma@example.com'));
    assert.equal(mail.subject, 'Restablecimiento de la contraseña de Sol Sánchez');
    assert.match(mail.text, /^Hola, Sol Sánchez:/);
    assert.match(mail.html, /<html lang="es" dir="ltr">/);
  });

  it('a user without a language who asks from a German browser gets the reset mail in German', async () => {
    await lk.createUser({ email: 'ohne.sprache@example.com', name: 'Jo Lang' });
    const browser = new WebClient(lk.url);
    await browser.request('GET', '/reset-password', undefined, { 'accept-language': 'de-DE,de;q=0.9' });
    await browser.request('POST', '/reset-password', new URLSearchParams({ _csrf: browser.csrfToken(), email: 'ohne.sprache@example.com' }), { 'accept-language': 'de-DE,de;q=0.9' });
    const mail = await smtp.waitForMail((m) => m.to.includes('ohne.sprache@example.com'));
    assert.equal(mail.subject, 'Passwort zurücksetzen für Jo Lang');
    assert.match(mail.html, /<html lang="de" dir="ltr">/);
  });

  it('the Language form on /account changes the page at once and the later mails, and is audited', async () => {
    const user = await lk.createUser({ email: 'pat@example.com', name: 'Pat Polyglot' });
    const client = await signIn('pat@example.com');
    let page = await client.get('/account');
    assert.match(page.html, /<html lang="es"/);
    assert.match(page.html, /<label for="language">Idioma<\/label>/);
    assert.match(page.html, /<option value="" selected>El idioma del navegador<\/option>/);
    for (const name of ['English', 'Français', 'Deutsch', 'Español']) assert.match(page.html, new RegExp(`>${name}</option>`));
    page = await client.post('/account/language', { language: 'en' });
    assert.equal(page.status, 200);
    assert.match(page.html, /<html lang="en"/);
    assert.match(page.html, /<label for="language">Language<\/label>/);
    assert.match(page.html, /<option value="en" lang="en" dir="ltr" selected>English<\/option>/);
    page = await client.post('/account/language', { language: 'de' });
    assert.match(page.html, /<html lang="de"/);
    await lk.services.recovery.sendInstructions(user.id, COMMAND_LINE, 'admin');
    const mail = await smtp.waitForMail((m) => m.to.includes('pat@example.com'));
    assert.equal(mail.subject, 'Passwort zurücksetzen für Pat Polyglot');
    page = await client.post('/account/language', { language: 'xx' });
    assert.equal(page.status, 400);
    assert.match(page.html, /Wählen Sie eine der angebotenen Sprachen\./);
    page = await client.post('/account/language', { language: '' });
    assert.match(page.html, /<html lang="es"/);
    assert.equal((await lk.services.users.findByTypedEmail('pat@example.com'))!.language, null);
    const audited = await lk.services.db.selectFrom('audit_events').select(['detail']).where('user_id', '=', user.id).where('type', '=', 'user.updated').orderBy('id').execute();
    assert.deepEqual(
      audited.map((row) => JSON.parse(row.detail!).changes.language),
      [
        { from: null, to: 'en' },
        { from: 'en', to: 'de' },
        { from: 'de', to: null },
      ],
    );
  });

  it("the administrator sets a user's language on the Edit form", async () => {
    const user = await lk.createUser({ email: 'edit.me@example.com', name: 'Eddie Edit' });
    let page = await admin.get(`/admin/users/${user.id}`);
    assert.match(page.html, /<label for="language">Language<\/label>/);
    page = await admin.post(`/admin/users/${user.id}`, { name: 'Eddie Edit', email: 'edit.me@example.com', role: 'user', language: 'fr' });
    assert.equal(page.status, 200);
    assert.match(page.html, /<html lang="en"/);
    assert.match(page.html, /<option value="fr" lang="fr" dir="ltr" selected>Français<\/option>/);
    assert.equal((await lk.services.users.findByTypedEmail('edit.me@example.com'))!.language, 'fr');
  });

  it('the API reads and sets language, and refuses an unknown code with 400', async () => {
    const key = (await lk.services.apiKeys.create({ name: 'Languages', scopes: ['users:read', 'users:write'], expiresAt: null }, COMMAND_LINE)).secret;
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${lk.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const created = await call('POST', '/api/v1/users', { email: 'api.user@example.com', name: 'Api User', password: 'Silver-Maple-7788', language: 'de' });
    assert.equal(created.status, 201);
    assert.equal(created.json.language, 'de');
    const id = created.json.id as string;
    assert.equal((await call('GET', `/api/v1/users/${id}`)).json.language, 'de');
    const changed = await call('PATCH', `/api/v1/users/${id}`, { language: 'fr' });
    assert.equal(changed.status, 200);
    assert.equal(changed.json.language, 'fr');
    const refused = await call('PATCH', `/api/v1/users/${id}`, { language: 'xx' });
    assert.equal(refused.status, 400);
    assert.equal((await call('POST', '/api/v1/users', { email: 'api.other@example.com', name: 'Api Other', language: 'klingon' })).status, 400);
    const cleared = await call('PATCH', `/api/v1/users/${id}`, { language: null });
    assert.equal(cleared.json.language, null);
  });
});
