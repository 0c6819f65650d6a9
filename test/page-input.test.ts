// What the pages' route schemas accept and refuse: a person's mistake still comes back as the form with a message; input
// no browser sends (a repeated field, a field longer than the form allows, a page that is not a number) gets the calm
// 400 page, never a 500.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';

describe('page input', () => {
  let lk: TestApp;
  let admin: WebClient;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    for (let i = 0; i < 55; i++) await lk.createUser({ email: `person${String(i).padStart(2, '0')}@example.com`, name: `Person ${String(i).padStart(2, '0')}` });
    admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
  });
  after(async () => {
    await lk.close();
  });

  it('a mistake in a form comes back as the form, with the message beside the field', async () => {
    await admin.get('/admin/users/new');
    const page = await admin.post('/admin/users', { email: 'not an email', name: 'Someone', role: 'user' });
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /New User/);
    assert.match(page.html, /value="not an email"/, 'the value typed is kept');
  });

  it('a field sent twice where the form has one gets the 400 page', async () => {
    const browser = new WebClient(lk.url);
    await browser.get('/login');
    const form = new URLSearchParams([['_csrf', browser.csrfToken()], ['email', 'root@example.com'], ['email', 'other@example.com'], ['password', GOOD_PASSWORD]]);
    const page = await browser.request('POST', '/login', form);
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /Bad request/);
    assert.ok(!browser.cookies.has('latchkey_session'), 'not logged in');
  });

  it('a field longer than the form allows is named on the 400 page', async () => {
    await admin.get('/admin/users/new');
    const page = await admin.post('/admin/users', { email: `${'a'.repeat(400)}@example.com`, name: 'Someone' });
    assert.equal(page.status, 400);
    assert.match(textOf(page.html), /The field "email" is too long\./);
  });

  it('page numbers come from the query string: page=2 shows the second page, page=0 or page=two the 400 page', async () => {
    const second = await admin.get('/admin/users?sort=email&dir=asc&page=2');
    assert.equal(second.status, 200);
    assert.match(textOf(second.html), /person50@example\.com.*Page 2 of 2/);
    assert.doesNotMatch(textOf(second.html), /person00@example\.com/);
    for (const page of ['0', 'two', '1.5']) assert.equal((await admin.get(`/admin/users?page=${page}`)).status, 400, page);
    assert.equal((await admin.get('/admin/mail-queue?page=2')).status, 200);
    assert.equal((await admin.get('/admin/audit?page=2')).status, 200);
  });
});
