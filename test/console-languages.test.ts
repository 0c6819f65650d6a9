// The administrator console in the administrator's own language: German pages for an administrator who chose
// German, the exact English labels for one who did not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';

const langOf = (page: string) => /<html[^>]*\blang="([^"]+)"/.exec(page)?.[1];

/** English phrases of the console that a German page must not show. */
const ENGLISH = [
  'Settings',
  'Outgoing Mail Servers',
  'Audit Log',
  'New User',
  'Filters',
  'Never logged in',
  'Send Password Reset Instructions',
  'users in all',
  'Last Login',
  'Password Changed',
  'Recent security activity',
  'Active sessions',
  'Set Password',
  'Next try',
  'Queued',
  'Reset requests',
  'No open alerts',
  'Where reset requests come from',
  'Database',
];

describe('the console in the administrator’s language', () => {
  let lk: TestApp;
  let german: WebClient;
  let english: WebClient;
  let memberId: string;

  async function signIn(email: string): Promise<WebClient> {
    const client = new WebClient(lk.url);
    await client.get('/login');
    await client.post('/login', { email, password: GOOD_PASSWORD });
    return client;
  }

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    const hanna = await lk.createUser({ email: 'hanna@example.com', name: 'Hanna Weber', admin: true });
    await lk.services.db.updateTable('users').set({ language: 'de' }).where('id', '=', hanna.id).execute();
    const ada = await lk.createUser({ email: 'ada@example.com', name: 'Ada Admin', admin: true });
    memberId = (await lk.createUser({ email: 'bob@example.com', name: 'Bob Smith' })).id;
    // A queued mail for the Mail Queue (no worker runs, so it stays queued).
    await lk.services.recovery.sendInstructions(memberId, { userId: ada.id }, 'admin');
    german = await signIn('hanna@example.com');
    english = await signIn('ada@example.com');
  });
  after(async () => {
    await lk.close();
  });

  const assertNoEnglish = (text: string, where: string) => {
    for (const phrase of ENGLISH) assert.ok(!text.includes(phrase), `${where} shows "${phrase}" in English`);
  };

  it('shows the users list in German, whatever the browser asks for', async () => {
    const page = await german.request('GET', '/admin/users', undefined, { 'accept-language': 'en' });
    assert.equal(langOf(page.html), 'de');
    const text = textOf(page.html);
    for (const german of ['Einstellungen', 'Benutzer', 'Neuer Benutzer', 'Suchen', 'Filter', 'Nie angemeldet', 'Letzte Anmeldung', 'Passwort geändert', '3 Benutzer insgesamt', 'Anleitung zum Zurücksetzen des Passworts senden']) {
      assert.ok(text.includes(german), `the list shows "${german}"`);
    }
    assertNoEnglish(text, 'the users list');
  });

  it("shows a user's page in German: the Action menu, details, edit form and sessions", async () => {
    const page = await german.get(`/admin/users/${memberId}`);
    assert.equal(langOf(page.html), 'de');
    const text = textOf(page.html);
    for (const german of ['Aktion', 'Um Bestätigung der E-Mail bitten', 'Rolle', 'Benutzer', 'Aktiv', 'Zurücksetzen ausstehend', 'Ja', 'Bearbeiten', 'Speichern', 'Passwort festlegen', 'Aktive Sitzungen', 'Letzte Sicherheitsaktivitäten', 'Link zum Zurücksetzen ausgestellt']) {
      assert.ok(text.includes(german), `the user's page shows "${german}"`);
    }
    assertNoEnglish(text, "the user's page");
  });

  it('shows the Mail Queue and the Security view in German', async () => {
    const queue = await german.get('/admin/mail-queue');
    assert.equal(langOf(queue.html), 'de');
    const queueText = textOf(queue.html);
    for (const german of ['E-Mail-Warteschlange', 'Empfänger', 'Betreff', 'Versuche', 'Nächster Versuch', 'Eingereiht', 'Abbrechen', '1 Nachricht insgesamt']) {
      assert.ok(queueText.includes(german), `the Mail Queue shows "${german}"`);
    }
    assertNoEnglish(queueText, 'the Mail Queue');

    const security = await german.get('/admin/security');
    assert.equal(langOf(security.html), 'de');
    const securityText = textOf(security.html);
    for (const german of ['Sicherheit', 'Warnungen', 'Keine offenen Warnungen.', 'Anforderungen zum Zurücksetzen', 'Fehlgeschlagene Anmeldungen', 'Woher die Anforderungen zum Zurücksetzen kommen', 'Datenbank']) {
      assert.ok(securityText.includes(german), `the Security view shows "${german}"`);
    }
    assertNoEnglish(securityText, 'the Security view');
  });

  it('keeps the exact English labels for an administrator who chose no language', async () => {
    const list = await english.get('/admin/users');
    assert.equal(langOf(list.html), 'en');
    const listText = textOf(list.html);
    for (const label of ['Settings', 'Users', 'Outgoing Mail Servers', 'Mail Queue', 'Audit Log', 'New User', 'Filters', 'Never logged in', 'Two-step on', 'Unverified for over a year', 'Last Login', 'Password Changed', 'Email Verified', 'Reset Pending', 'Page 1 of 1 (3 users in all)', 'Send to all 3 matching users', 'Ask all 3 matching users to confirm']) {
      assert.ok(listText.includes(label), `the list shows "${label}"`);
    }
    const user = textOf((await english.get(`/admin/users/${memberId}`)).html);
    for (const label of ['Action', 'Send Password Reset Instructions', 'Ask to Confirm Email', 'Reset Pending Yes', 'Two-Step Verification Off', 'Active sessions', 'Recent security activity', 'Reset link issued']) {
      assert.ok(user.includes(label), `the user's page shows "${label}"`);
    }
    const queue = textOf((await english.get('/admin/mail-queue')).html);
    for (const label of ['Recipient', 'Subject', 'Status', 'Attempts', 'Next try', 'Queued', '1 message in all']) {
      assert.ok(queue.includes(label), `the Mail Queue shows "${label}"`);
    }
    const security = textOf((await english.get('/admin/security')).html);
    for (const label of ['Security', 'Alerts', 'No open alerts.', 'Reset requests', 'Failed second steps', 'Where reset requests come from', 'Database']) {
      assert.ok(security.includes(label), `the Security view shows "${label}"`);
    }
  });
});
