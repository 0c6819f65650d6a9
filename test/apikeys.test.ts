// API keys as administrators make them: the API Keys pages (shown once, revoked) and `latchkey apikeys` from a script.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, GOOD_PASSWORD, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { latchkey as runLatchkey } from './support/cli.ts';


let lk: TestApp;
let admin: WebClient;

before(async () => {
  lk = await startTestApp({ startWorker: false });
  await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
  admin = new WebClient(lk.url);
  await admin.get('/login');
  await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
});
after(async () => {
  await lk.close();
});

const keyOn = (html: string) => /id="api-key"[^>]*value="(lk_[^"]+)"/.exec(html)?.[1];
const usersWith = (key: string) => fetch(`${lk.url}/api/v1/users`, { headers: { authorization: `Bearer ${key}` } });

describe('the API Keys pages', () => {
  it('"New API Key" creates a key with its scopes and shows it once; a reload shows it no more; the key works', async () => {
    let page = await admin.get('/admin/api-keys');
    assert.match(page.html, /<a href="\/admin\/api-keys" aria-current="page">API Keys<\/a>/);
    assert.match(page.html, /<a class="button" href="\/admin\/api-keys\/new">New API Key<\/a>/);
    page = await admin.get('/admin/api-keys/new');
    for (const label of ['Name', 'Scopes', 'users:read', 'users:write', 'resets:send', 'audit:read', 'mail:read', 'Expires']) assert.ok(textOf(page.html).includes(label), label);

    const refused = await admin.request('POST', '/admin/api-keys', new URLSearchParams([['_csrf', admin.csrfToken()], ['name', '']]));
    assert.equal(refused.status, 400);
    assert.match(textOf(refused.html), /Give the key a name/);
    assert.match(textOf(refused.html), /Choose at least one scope/);

    page = await admin.request('POST', '/admin/api-keys', new URLSearchParams([['_csrf', admin.csrfToken()], ['name', 'HR sync'], ['scopes', 'users:read'], ['scopes', 'users:write']]));
    assert.equal(page.status, 200);
    const [key] = await lk.services.apiKeys.list();
    assert.equal(new URL(page.url).pathname, `/admin/api-keys/${key!.id}/created`);
    const secret = keyOn(page.html);
    assert.ok(secret, 'the key is on the page');
    assert.match(textOf(page.html), /Copy the key now: it will not be shown again/);
    assert.deepEqual(key!.scopes, ['users:read', 'users:write']);

    const reloaded = await admin.get(page.url);
    assert.equal(keyOn(reloaded.html), undefined, 'a reload does not show the key again');
    assert.ok(!reloaded.html.includes(secret!));
    assert.match(textOf(reloaded.html), /The key was shown once and cannot be shown again/);
    assert.equal((await lk.services.apiKeys.list()).length, 1, 'created once');
    const stored = await lk.services.db.selectFrom('api_keys').selectAll().executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(stored).includes(secret!.slice(3)), 'only a hash of the key is stored');

    assert.equal((await usersWith(secret!)).status, 200);
    page = await admin.get(`/admin/api-keys/${key!.id}`);
    page = await admin.post(`/admin/api-keys/${key!.id}/revoke`, {});
    assert.match(textOf(page.html), /The key was revoked/);
    assert.match(textOf(page.html), /Revoked/);
    assert.equal((await usersWith(secret!)).status, 401);
    const audited = await lk.services.audit.list({ types: ['api_key.created', 'api_key.revoked'], limit: 10 });
    assert.equal(audited.rows.length, 2);
  });
});

function latchkey(args: string[]) {
  return runLatchkey(args, { env: { LATCHKEY_DATABASE_URL: lk.services.config.database.kind === 'sqlite' ? `sqlite:${lk.services.config.database.path}` : lk.services.config.database.url, LATCHKEY_DATA_DIR: lk.dir } });
}

describe('latchkey apikeys', () => {
  it('create prints the key once, list never shows it, revoke stops it at once; bad input is one clear line', async () => {
    const created = await latchkey(['apikeys', 'create', '--name', 'Onboarding', '--scope', 'users:read,resets:send', '--expires', '2099-12-31']);
    assert.equal(created.code, 0, created.stderr);
    const secret = /^Key: (lk_\S+)$/m.exec(created.stdout)?.[1];
    assert.ok(secret, created.stdout);
    assert.match(created.stdout, /Copy the key now/);
    assert.equal((await usersWith(secret!)).status, 200);

    const listed = await latchkey(['apikeys', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /Onboarding/);
    assert.match(listed.stdout, /users:read,resets:send/);
    assert.ok(!listed.stdout.includes(secret!), 'list never prints a key');
    const id = listed.stdout.split('\n').find((line) => line.includes('Onboarding'))!.split('\t')[0]!;

    const revoked = await latchkey(['apikeys', 'revoke', id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await usersWith(secret!)).status, 401);

    const again = await latchkey(['apikeys', 'revoke', id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^latchkey: The key "Onboarding" was already revoked\.\n$/);
    const badScope = await latchkey(['apikeys', 'create', '--name', 'X', '--scope', 'everything']);
    assert.equal(badScope.code, 1);
    assert.match(badScope.stderr, /^latchkey: Unknown scope: everything/);
    const badDate = await latchkey(['apikeys', 'create', '--name', 'X', '--scope', 'users:read', '--expires', 'tomorrow']);
    assert.equal(badDate.code, 2);
    assert.match(badDate.stderr, /--expires takes a date/);
  });
});
