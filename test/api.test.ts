// The JSON API as a developer meets it: keys and scopes, users, resets by mail, the audit log, problems, OpenAPI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, GOOD_PASSWORD, type TestApp } from './support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { sleep, waitFor } from './support/wait.ts';
import { apiRoutesOf } from '../src/modules/api/api.plugin.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { API_SCOPES } from '../src/modules/apikeys/apikeys.service.ts';

let smtp: TestSmtpServer;
let t: TestApp;
/** A key with every scope, and one per scope. */
let all: string;
const only: Record<string, string> = {};

async function call(method: string, path: string, options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${t.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, json, text };
}

before(async () => {
  smtp = await startSmtpServer();
  t = await startTestApp({ smtpUrl: smtp.url });
  all = (await t.services.apiKeys.create({ name: 'Everything', scopes: [...API_SCOPES], expiresAt: null }, COMMAND_LINE)).secret;
  for (const scope of API_SCOPES) only[scope] = (await t.services.apiKeys.create({ name: `Only ${scope}`, scopes: [scope], expiresAt: null }, COMMAND_LINE)).secret;
});
after(async () => {
  await t?.close();
  await smtp?.close();
});

describe('API keys', () => {
  it('a call without a key, with a key Latchkey does not know, with a revoked or an expired key is refused with a problem a person understands', async () => {
    const none = await call('GET', '/api/v1/users');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(none.json.type, /#problem-unauthorized$/);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="latchkey"');

    const unknown = await call('GET', '/api/v1/users', { key: `lk_${'A'.repeat(43)}` });
    assert.equal(unknown.status, 401);
    assert.match(unknown.json.detail, /not an API key Latchkey knows/);

    const made = await t.services.apiKeys.create({ name: 'Short-lived', scopes: ['users:read'], expiresAt: Date.now() + 60_000 }, COMMAND_LINE);
    assert.equal((await call('GET', '/api/v1/users', { key: made.secret })).status, 200);
    await t.services.apiKeys.revoke(made.key.id, COMMAND_LINE);
    const revoked = await call('GET', '/api/v1/users', { key: made.secret });
    assert.equal(revoked.status, 401);
    assert.match(revoked.json.type, /#problem-key-revoked$/);

    const expiring = await t.services.apiKeys.create({ name: 'Expiring', scopes: ['users:read'], expiresAt: Date.now() + 300 }, COMMAND_LINE);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const expired = await call('GET', '/api/v1/users', { key: expiring.secret });
    assert.equal(expired.status, 401);
    assert.match(expired.json.type, /#problem-key-expired$/);
  });

  it('each scope opens its own endpoints and no others', async () => {
    const user = await t.createUser({ email: 'scoped@example.com', name: 'Scoped Person' });
    const routes: Array<[string, string, string, unknown?]> = [
      ['users:read', 'GET', '/api/v1/users'],
      ['users:read', 'GET', `/api/v1/users/${user.id}`],
      ['users:write', 'PATCH', `/api/v1/users/${user.id}`, { name: 'Scoped Person Two' }],
      ['resets:send', 'POST', `/api/v1/users/${user.id}/reset-link`],
      ['audit:read', 'GET', '/api/v1/audit'],
      ['mail:read', 'GET', '/api/v1/mail'],
    ];
    for (const [scope, method, path, body] of routes) {
      for (const [held, key] of Object.entries(only)) {
        const answer = await call(method, path, { key, body });
        if (held === scope) assert.ok(answer.status < 300, `${held} may ${method} ${path}: got ${answer.status} ${answer.text}`);
        else {
          assert.equal(answer.status, 403, `${held} may not ${method} ${path}`);
          assert.match(answer.json.type, /#problem-insufficient-scope$/);
        }
      }
    }
  });

  it('every use of a key is in the audit log, with the key and what it called', async () => {
    await call('GET', '/api/v1/mail', { key: only['mail:read'] });
    await waitFor('an api_key.used event for GET /api/v1/mail', async () => {
      const { rows } = await t.services.audit.list({ type: 'api_key.used', limit: 50 });
      return rows.some((row) => /"route":"\/api\/v1\/mail"/.test(row.detail ?? '') && /"name":"Only mail:read"/.test(row.detail ?? ''));
    });
  });
});

describe('users over the API', () => {
  it('creates, reads, searches with the console filters, pages by cursor, changes, archives and restores a user', async () => {
    const created = await call('POST', '/api/v1/users', { key: all, body: { email: 'Ada.Api@Example.com', name: 'Ada Api', role: 'user' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.email, 'ada.api@example.com');
    assert.equal(created.json.has_password, false);
    assert.equal('password_hash' in created.json, false);
    const id = created.json.id as string;

    assert.equal((await call('GET', `/api/v1/users/${id}`, { key: all })).json.name, 'Ada Api');
    for (let i = 0; i < 5; i++) await t.createUser({ email: `pager${i}@example.com`, name: `Pager ${i}` });
    const first = await call('GET', '/api/v1/users?q=pager&limit=2&sort=email', { key: all });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json.data.map((u: { email: string }) => u.email), ['pager0@example.com', 'pager1@example.com']);
    const second = await call('GET', `/api/v1/users?q=pager&limit=2&sort=email&cursor=${first.json.next_cursor}`, { key: all });
    assert.deepEqual(second.json.data.map((u: { email: string }) => u.email), ['pager2@example.com', 'pager3@example.com']);
    const third = await call('GET', `/api/v1/users?q=pager&limit=2&sort=email&cursor=${second.json.next_cursor}`, { key: all });
    assert.deepEqual(third.json.data.map((u: { email: string }) => u.email), ['pager4@example.com']);
    assert.equal(third.json.next_cursor, null);
    const otherQuery = await call('GET', `/api/v1/users?q=ada&cursor=${first.json.next_cursor}`, { key: all });
    assert.equal(otherQuery.status, 400, 'a cursor of another search is refused');

    const changed = await call('PATCH', `/api/v1/users/${id}`, { key: all, body: { role: 'admin' } });
    assert.equal(changed.json.role, 'admin');
    const admins = await call('GET', '/api/v1/users?filter=admins&q=ada', { key: all });
    assert.deepEqual(admins.json.data.map((u: { id: string }) => u.id), [id]);

    assert.equal((await call('POST', `/api/v1/users/${id}/archive`, { key: all })).json.status, 'archived');
    assert.equal((await call('GET', '/api/v1/users?filter=archived&q=ada', { key: all })).json.data.length, 1);
    assert.equal((await call('POST', `/api/v1/users/${id}/restore`, { key: all })).json.status, 'active');
  });

  it('refuses bad input listing every field that failed, unknown fields included, and never answers 500', async () => {
    const bad = await call('POST', '/api/v1/users', { key: all, body: { email: 'not-an-address', role: 'owner', color: 'blue' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.type, /#problem-validation-failed$/);
    const fields = bad.json.errors.map((e: { field: string }) => e.field).sort();
    for (const field of ['color', 'email', 'name', 'role']) assert.ok(fields.includes(field), `${field} is listed: ${JSON.stringify(bad.json.errors)}`);

    const duplicate = await call('POST', '/api/v1/users', { key: all, body: { email: 'pager0@example.com', name: 'Someone' } });
    assert.equal(duplicate.status, 409, duplicate.text);
    const weak = await call('POST', '/api/v1/users', { key: all, body: { email: 'weak@example.com', name: 'Weak', password: 'password' } });
    assert.equal(weak.status, 400, weak.text);
    assert.ok(weak.json.errors.some((e: { field: string }) => e.field === 'password'));

    const notJson = await fetch(`${t.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${all}`, 'content-type': 'application/json' }, body: '{"email":' });
    assert.equal(notJson.status, 400);
    const form = await fetch(`${t.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${all}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a@b.c' });
    assert.ok([400, 415].includes(form.status), `a form post is refused (${form.status})`);
    const missing = await call('GET', '/api/v1/users/no-such-user', { key: all });
    assert.equal(missing.status, 404);
    assert.match(missing.json.type, /#problem-not-found$/);
    const nowhere = await call('GET', '/api/v1/nothing-here', { key: all });
    assert.equal(nowhere.status, 404);
    assert.match(nowhere.headers.get('content-type') ?? '', /problem\+json/);
  });
});

describe('importing users over the API', () => {
  it('imports a batch, reporting a bad row by its position; with all_or_nothing a bad row leaves the directory unchanged', async () => {
    const batch = {
      users: [
        { email: 'moved.in.one@example.com', name: 'Moved In One' },
        { email: 'moved.in.two@example.com', name: 'Moved In Two', role: 'admin', password_hash: '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy' },
        { email: 'MOVED.IN.ONE@example.com', name: 'Duplicate' },
      ],
    };
    const done = await call('POST', '/api/v1/users/import', { key: only['users:write'], body: batch });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.created, 2);
    assert.equal(done.json.skipped, 1);
    assert.equal(done.json.rows[2].position, 3);
    assert.equal(done.json.rows[2].outcome, 'skipped');
    assert.match(done.json.rows[2].reason, /moved.in.one@example.com is also on line 1/);
    const two = await call('GET', `/api/v1/users/${done.json.rows[1].user_id}`, { key: all });
    assert.equal(two.json.role, 'admin');
    assert.equal(two.json.has_password, true);

    const refused = await call('POST', '/api/v1/users/import', {
      key: all,
      body: { all_or_nothing: true, users: [{ email: 'never.written@example.com', name: 'Never Written' }, { email: 'not-an-address', name: 'Broken' }] },
    });
    assert.equal(refused.status, 200, refused.text);
    assert.equal(refused.json.created, 0);
    assert.equal(refused.json.refused, 2);
    assert.equal((await call('GET', '/api/v1/users?q=never.written', { key: all })).json.data.length, 0);
    assert.equal((await call('POST', '/api/v1/users/import', { key: only['users:read'], body: batch })).status, 403);
  });
});

describe('resets over the API', () => {
  it('sends reset instructions once per Idempotency-Key, and the mail arrives', async () => {
    const user = await t.createUser({ email: 'idem@example.com', name: 'Idem Potent' });
    const headers = { 'idempotency-key': 'onboarding-42' };
    const first = await call('POST', `/api/v1/users/${user.id}/reset-instructions`, { key: all, headers });
    assert.equal(first.status, 202, first.text);
    const again = await call('POST', `/api/v1/users/${user.id}/reset-instructions`, { key: all, headers });
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.json, first.json);
    const reused = await call('POST', `/api/v1/users/${(await t.createUser({ email: 'other-idem@example.com', name: 'Other Idem' })).id}/reset-instructions`, { key: all, headers });
    assert.equal(reused.status, 422);
    assert.match(reused.json.type, /#problem-idempotency-key-reused$/);
    await smtp.waitForMail((m) => m.to.includes('idem@example.com'));
    await t.services.worker.drain();
    await sleep(300);
    assert.equal(smtp.mails.filter((m) => m.to.includes('idem@example.com')).length, 1, 'one mail, not two');
  });

  it('a whole self-service reset through the API: request (same answer for any address), state, complete once, then log in', async () => {
    await t.createUser({ email: 'self@example.com', name: 'Self Service' });
    const known = await call('POST', '/api/v1/reset-requests', { body: { email: 'self@example.com' } });
    const unknown = await call('POST', '/api/v1/reset-requests', { body: { email: 'nobody-here@example.com' } });
    assert.equal(known.status, 202);
    assert.deepEqual(known.json, unknown.json);
    const mail = await smtp.waitForMail((m) => m.to.includes('self@example.com'));
    const token = resetLinkIn(mail).split('/').pop()!;

    const state = await call('POST', '/api/v1/reset-links/state', { body: { token } });
    assert.equal(state.json.state, 'usable');
    const weak = await call('POST', '/api/v1/reset-links/complete', { body: { token, password: 'short', password_confirmation: 'short' } });
    assert.equal(weak.status, 422, weak.text);
    assert.ok(weak.json.broken.length > 0);
    const check = await call('POST', '/api/v1/password-check', { body: { password: 'short', email: 'self@example.com' } });
    assert.equal(check.json.acceptable, false);
    assert.deepEqual(check.json.broken, weak.json.broken);

    const done = await call('POST', '/api/v1/reset-links/complete', { body: { token, password: GOOD_PASSWORD + 'x', password_confirmation: GOOD_PASSWORD + 'x' } });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.headers.get('set-cookie'), null, 'no session cookie from the API');
    const twice = await call('POST', '/api/v1/reset-links/complete', { body: { token, password: GOOD_PASSWORD + 'y', password_confirmation: GOOD_PASSWORD + 'y' } });
    assert.equal(twice.status, 410);
    assert.equal(twice.json.state, 'used');
    assert.equal((await call('POST', '/api/v1/reset-links/state', { body: { token } })).json.state, 'used');
    await smtp.waitForMail((m) => m.to.includes('self@example.com') && m !== mail);
  });

  it('calls from a browser page of another origin are refused unless the origin is listed', async () => {
    const refused = await call('POST', '/api/v1/password-check', { body: { password: 'x' }, headers: { origin: 'https://evil.example' } });
    assert.equal(refused.status, 403);
    assert.match(refused.json.type, /#problem-origin-refused$/);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});

describe('the OpenAPI document', () => {
  it('lists every API route, and /api/docs shows each of them', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json;
    assert.equal(doc.openapi, '3.1.0');
    const documented = new Set(Object.entries(doc.paths as Record<string, object>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)));
    const registered = apiRoutesOf(t.app);
    assert.ok(registered.length >= 14, `the API's routes were collected (${registered.length})`);
    for (const route of registered) assert.ok(documented.has(route), `${route} is in the document`);
    const docs = await fetch(`${t.url}/api/docs`);
    assert.equal(docs.status, 200);
    const page = await docs.text();
    for (const route of documented) assert.ok(page.includes(route.split(' ')[1]!.replace(/:(\w+)/g, '{$1}')), `${route} is on /api/docs`);
  });
});

describe('limits and origins', () => {
  let limited: TestApp;
  before(async () => {
    limited = await startTestApp({ startWorker: false, env: { LATCHKEY_RATE_LIMIT: '2', LATCHKEY_API_CORS_ORIGINS: 'https://app.example.org' } });
  });
  after(async () => {
    await limited?.close();
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${limited.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('the self-service endpoints are limited per address like the pages: 429 with Retry-After and a problem', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await post('/api/v1/reset-requests', { email: `limit${i}@example.com` })).status, 202);
    const refused = await post('/api/v1/reset-requests', { email: 'limit3@example.com' });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
    const problem = (await refused.json()) as { type: string; detail: string };
    assert.match(problem.type, /#problem-rate-limited$/);
    assert.match(problem.detail, /Retry-After/);
  });

  it('a listed origin may call from a browser: the preflight is answered and the answer names the origin', async () => {
    const preflight = await fetch(`${limited.url}/api/v1/password-check`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.org');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /content-type/);
    const answer = await post('/api/v1/password-check', { password: 'Velvet-Harbor-42' }, { origin: 'https://app.example.org' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://app.example.org');
    assert.equal(((await answer.json()) as { acceptable: boolean }).acceptable, true);
    const other = await post('/api/v1/password-check', { password: 'x' }, { origin: 'https://app.example.org.evil.example' });
    assert.equal(other.status, 403);
  });
});
