// Applications (OpenID Connect relying parties): registering, changing, removing them and their client secrets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { latchkey as runLatchkey, type Run } from './support/cli.ts';
import { freshDatabaseUrl } from './support/database.ts';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createServices } from '../src/services.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { UserError } from '../src/infra/errors.ts';
import type { ApplicationInput } from '../src/modules/applications/applications.service.ts';


const WIKI: ApplicationInput = {
  name: 'Team Wiki',
  kind: 'confidential',
  firstParty: true,
  redirectUris: ['https://wiki.example.com/oauth/callback'],
  postLogoutRedirectUris: ['https://wiki.example.com/'],
  scopes: ['profile', 'email'],
};

const DASHBOARD: ApplicationInput = {
  name: 'Dashboard',
  kind: 'public',
  firstParty: false,
  redirectUris: ['http://localhost:8080/callback', 'http://127.0.0.1:8080/callback', 'http://[::1]:8080/callback'],
  postLogoutRedirectUris: [],
  scopes: ['openid', 'email', 'offline_access'],
};

/** The per-field messages of the refusal `work` must end in. */
async function refusal(work: () => Promise<unknown>): Promise<Record<string, string>> {
  try {
    await work();
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    assert.equal(error.status, 400);
    return error.fields;
  }
  assert.fail('expected a refusal');
}

describe('applications', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
  });
  after(async () => {
    await lk.close();
  });

  const events = (type: string) => lk.services.db.selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('id').execute();

  it('a confidential application gets a client id and a secret shown once, stored sealed, and the provider sees both', async () => {
    const { application, secret } = await lk.services.applications.create(WIKI, { userId: null, ip: '192.0.2.1' });
    assert.match(application.id, /^app_[A-Za-z0-9_-]{22}$/);
    assert.ok(secret && secret.length >= 43);
    assert.deepEqual(application.scopes, ['openid', 'profile', 'email'], 'openid is always allowed');
    assert.equal(application.secretRotatedAt, null);
    const row = await lk.services.db.selectFrom('applications').selectAll().where('id', '=', application.id).executeTakeFirstOrThrow();
    assert.ok(row.secret_sealed && !row.secret_sealed.includes(secret), 'the secret is sealed, not stored as typed');
    assert.deepEqual(await lk.services.applications.get(application.id), application);
    assert.deepEqual(await lk.services.applications.clientMetadata(application.id), {
      client_id: application.id,
      client_name: 'Team Wiki',
      client_secret: secret,
      redirect_uris: ['https://wiki.example.com/oauth/callback'],
      post_logout_redirect_uris: ['https://wiki.example.com/'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile email',
      latchkey_first_party: true,
    });
    const [created] = await events('application.created');
    assert.equal(created!.ip, '192.0.2.1');
    assert.ok(!created!.detail!.includes(secret), 'the audit log never holds the secret');
    assert.equal(JSON.parse(created!.detail!).clientId, application.id);
  });

  it('a public application has no secret and authenticates with none; http works only on this machine', async () => {
    const { application, secret } = await lk.services.applications.create(DASHBOARD, COMMAND_LINE);
    assert.equal(secret, null);
    const metadata = await lk.services.applications.clientMetadata(application.id);
    assert.equal(metadata?.token_endpoint_auth_method, 'none');
    assert.equal('client_secret' in metadata!, false);
    assert.equal(metadata?.scope, 'openid email offline_access');
    assert.equal(metadata?.latchkey_first_party, false);
    await assert.rejects(lk.services.applications.rotateSecret(application.id, COMMAND_LINE), /public application has no client secret/);
  });

  it('redirect URIs must be full https URLs without fragments or credentials; each problem names its field', async () => {
    const cases: Array<[Partial<ApplicationInput>, string, RegExp]> = [
      [{ redirectUris: [] }, 'redirectUris', /at least one redirect URI/],
      [{ redirectUris: ['/callback'] }, 'redirectUris', /not a full URL/],
      [{ redirectUris: ['http://wiki.example.com/cb'] }, 'redirectUris', /https:\/\/.*localhost/],
      [{ redirectUris: ['https://wiki.example.com/cb#done'] }, 'redirectUris', /fragment/],
      [{ redirectUris: ['https://user:pw@wiki.example.com/cb'] }, 'redirectUris', /user name or password/],
      [{ redirectUris: ['javascript:alert(1)'] }, 'redirectUris', /must start with https/],
      [{ redirectUris: ['https://wiki.example.com/a b'] }, 'redirectUris', /spaces/],
      [{ postLogoutRedirectUris: ['http://evil.example/'] }, 'postLogoutRedirectUris', /Post-logout redirect URIs/],
      [{ scopes: ['admin'] }, 'scopes', /Unknown scope “admin”/],
      [{ name: '  ' }, 'name', /Enter a name/],
      [{ kind: 'hybrid' as ApplicationInput['kind'] }, 'kind', /Confidential or Public/],
    ];
    for (const [change, field, message] of cases) {
      const fields = await refusal(() => lk.services.applications.create({ ...WIKI, ...change }, COMMAND_LINE));
      assert.match(fields[field] ?? '', message, JSON.stringify(change));
    }
  });

  it('URIs are kept exactly as typed, trimmed, without blank lines or duplicates', async () => {
    const uris = ['  https://App.example.com/cb?x=1 ', '', 'https://App.example.com/cb?x=1', 'https://app.example.com/other'];
    const { application } = await lk.services.applications.create({ ...WIKI, name: 'Exact', redirectUris: uris }, COMMAND_LINE);
    assert.deepEqual(application.redirectUris, ['https://App.example.com/cb?x=1', 'https://app.example.com/other']);
  });

  it('changing an application keeps its id and secret, audits what changed, and never changes its type', async () => {
    const { application, secret } = await lk.services.applications.create({ ...WIKI, name: 'Grafana' }, COMMAND_LINE);
    const changed = await lk.services.applications.update(
      application.id,
      { ...WIKI, name: 'Grafana (prod)', firstParty: false, scopes: ['latchkey_admin'], redirectUris: ['https://grafana.example.com/login/generic_oauth'] },
      { userId: 'someone' },
    );
    assert.equal(changed.id, application.id);
    assert.equal(changed.firstParty, false);
    assert.deepEqual(changed.scopes, ['openid', 'latchkey_admin']);
    assert.equal((await lk.services.applications.clientMetadata(application.id))?.client_secret, secret);
    const updated = (await events('application.updated')).at(-1)!;
    assert.equal(updated.actor_id, 'someone');
    assert.deepEqual(JSON.parse(updated.detail!).changed, ['name', 'firstParty', 'redirectUris', 'scopes']);
    const fields = await refusal(() => lk.services.applications.update(application.id, { ...WIKI, kind: 'public' }, COMMAND_LINE));
    assert.match(fields.kind!, /type cannot change/);
    await assert.rejects(lk.services.applications.update('app_nope', WIKI, COMMAND_LINE), (error: UserError) => error.status === 404);
  });

  it('rotating the secret replaces it at once; the old one is gone', async () => {
    const { application, secret } = await lk.services.applications.create({ ...WIKI, name: 'Rotated' }, COMMAND_LINE);
    const fresh = await lk.services.applications.rotateSecret(application.id, COMMAND_LINE);
    assert.notEqual(fresh, secret);
    assert.equal((await lk.services.applications.clientMetadata(application.id))?.client_secret, fresh);
    assert.notEqual((await lk.services.applications.get(application.id))?.secretRotatedAt, null);
    const [event] = (await events('application.secret_rotated')).slice(-1);
    assert.ok(!event!.detail!.includes(fresh));
  });

  it('a removed application is unknown to the provider; ids of any other shape are unknown too', async () => {
    const { application } = await lk.services.applications.create({ ...WIKI, name: 'Short-lived' }, COMMAND_LINE);
    await lk.services.applications.remove(application.id, COMMAND_LINE);
    assert.equal(await lk.services.applications.get(application.id), undefined);
    assert.equal(await lk.services.applications.clientMetadata(application.id), undefined);
    assert.equal(JSON.parse((await events('application.removed')).at(-1)!.detail!).clientId, application.id);
    await assert.rejects(lk.services.applications.remove(application.id, COMMAND_LINE), (error: UserError) => error.status === 404);
    for (const id of ['', 'app_\u0000', 'x'.repeat(500), "app_' or 1=1"]) assert.equal(await lk.services.applications.clientMetadata(id), undefined);
    assert.ok(!(await lk.services.applications.list()).some((app) => app.id === application.id));
  });

  it('the list is in name order', async () => {
    const names = (await lk.services.applications.list()).map((app) => app.name);
    assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });
});

describe('the Applications pages', () => {
  let lk: TestApp;
  let admin: WebClient;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    await lk.createUser({ email: 'user@example.com', name: 'Una User' });
    admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
  });
  after(async () => {
    await lk.close();
  });

  /** Posts the application form as the browser would, scopes as repeated fields. */
  const postForm = (action: string, fields: Array<[string, string]>) =>
    admin.request('POST', action, new URLSearchParams([['_csrf', admin.csrfToken()], ...fields]));

  const secretOn = (html: string) => /id="client-secret"[^>]*value="([^"]+)"/.exec(html)?.[1];

  it('New Application registers a confidential application and shows its secret once, with a warning', async () => {
    let page = await admin.get('/admin/applications');
    assert.match(page.html, /<a href="\/admin\/applications" aria-current="page">Applications<\/a>/);
    assert.match(textOf(page.html), /No application is registered yet/);
    assert.match(page.html, /<a class="button" href="\/admin\/applications\/new">New Application<\/a>/);
    page = await admin.get('/admin/applications/new');
    for (const label of ['Name', 'Redirect URIs (one per line)', 'Post-Logout Redirect URIs (one per line)', 'Type', 'Confidential', 'Public', 'First-party (no consent screen)', 'profile', 'latchkey_admin']) {
      assert.ok(textOf(page.html).includes(label), label);
    }
    page = await postForm('/admin/applications', [
      ['name', 'Team Wiki'],
      ['redirectUris', 'https://wiki.example.com/callback\r\n\r\nhttp://localhost:3001/callback'],
      ['postLogoutRedirectUris', 'https://wiki.example.com/'],
      ['kind', 'confidential'],
      ['firstParty', 'yes'],
      ['scopes', 'profile'],
      ['scopes', 'email'],
    ]);
    assert.equal(page.status, 200);
    assert.match(textOf(page.html), /Copy the client secret now: it will not be shown again/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const [application] = await lk.services.applications.list();
    // Post/Redirect/Get: the secret is on a page reached by a redirect, so a reload repeats no registration.
    assert.equal(new URL(page.url).pathname, `/admin/applications/${application!.id}/secret`);
    const shown = secretOn(page.html);
    const reloaded = await admin.get(page.url);
    assert.equal(reloaded.status, 200);
    assert.equal(secretOn(reloaded.html), undefined, 'a reload does not show the secret again');
    assert.ok(!reloaded.html.includes(shown!));
    assert.equal(new URL(reloaded.url).pathname, `/admin/applications/${application!.id}`);
    assert.match(textOf(reloaded.html), /The client secret was shown once and cannot be shown again/);
    assert.equal((await lk.services.applications.list()).length, 1, 'registered once');
    const created = await lk.services.db.selectFrom('audit_events').select('id').where('type', '=', 'application.created').execute();
    assert.equal(created.length, 1);
    assert.equal(application!.name, 'Team Wiki');
    assert.deepEqual(application!.redirectUris, ['https://wiki.example.com/callback', 'http://localhost:3001/callback']);
    assert.deepEqual(application!.scopes, ['openid', 'profile', 'email']);
    assert.equal(application!.firstParty, true);
    assert.equal(secretOn(page.html), (await lk.services.applications.clientMetadata(application!.id))?.client_secret);

    page = await admin.get('/admin/applications');
    const text = textOf(page.html);
    for (const shown of ['Team Wiki', application!.id, 'Confidential', 'First-party', 'https://wiki.example.com/callback']) assert.ok(text.includes(shown), shown);
    page = await admin.get(`/admin/applications/${application!.id}`);
    assert.equal(secretOn(page.html), undefined, 'never shown again');
    assert.ok(!page.html.includes(secretOn((await admin.get('/admin/applications')).html) ?? '\u0000'));
  });

  it('a refused form comes back with its values and a message on the field at fault', async () => {
    await admin.get('/admin/applications/new');
    const page = await postForm('/admin/applications', [
      ['name', 'Dashboard'],
      ['redirectUris', 'http://dashboard.example.com/callback'],
      ['kind', 'public'],
    ]);
    assert.equal(page.status, 400);
    assert.match(page.html, /<span class="field-error" id="redirectUris-error">[^<]*must start with https:\/\//);
    assert.match(page.html, /value="Dashboard"/);
    assert.match(page.html, /<textarea[^>]*>http:\/\/dashboard\.example\.com\/callback<\/textarea>/);
    assert.match(page.html, /value="public" checked/);
    assert.equal((await lk.services.applications.list()).length, 1, 'nothing was registered');
  });

  it('a public application has no secret; editing keeps its type and is audited', async () => {
    await admin.get('/admin/applications/new');
    let page = await postForm('/admin/applications', [
      ['name', 'Dashboard'],
      ['redirectUris', 'https://dashboard.example.com/callback'],
      ['kind', 'public'],
    ]);
    assert.match(textOf(page.html), /The application was registered/);
    assert.equal(secretOn(page.html), undefined);
    assert.doesNotMatch(page.html, /Rotate Secret/);
    const id = /\/admin\/applications\/(app_[\w-]+)/.exec(page.url)![1]!;
    page = await postForm(`/admin/applications/${id}`, [
      ['name', 'Dashboard (staging)'],
      ['redirectUris', 'https://staging.example.com/callback'],
      ['kind', 'public'],
      ['scopes', 'offline_access'],
    ]);
    assert.match(textOf(page.html), /The changes were saved/);
    const application = await lk.services.applications.get(id);
    assert.equal(application?.name, 'Dashboard (staging)');
    assert.deepEqual(application?.scopes, ['openid', 'offline_access']);
    const event = await lk.services.db.selectFrom('audit_events').selectAll().where('type', '=', 'application.updated').executeTakeFirstOrThrow();
    assert.ok(event.actor_id, 'the audit log names the administrator');
    page = await admin.get(`/admin/audit?type=application.updated`);
    assert.match(textOf(page.html), /Application changed/);
  });

  it('Rotate Secret asks first, then shows the new secret once; the old one stops working', async () => {
    const wiki = (await lk.services.applications.list()).find((app) => app.name === 'Team Wiki')!;
    const old = (await lk.services.applications.clientMetadata(wiki.id))?.client_secret;
    let page = await admin.get(`/admin/applications/${wiki.id}`);
    assert.match(page.html, new RegExp(`href="/admin/applications/${wiki.id}/rotate-secret">Rotate Secret<`));
    page = await admin.get(`/admin/applications/${wiki.id}/rotate-secret`);
    assert.match(textOf(page.html), /Confirm/);
    assert.match(textOf(page.html), /Cancel/);
    page = await admin.post(`/admin/applications/${wiki.id}/rotate-secret`, {});
    const fresh = secretOn(page.html);
    assert.ok(fresh && fresh !== old);
    assert.match(textOf(page.html), /it will not be shown again/);
    assert.equal((await lk.services.applications.clientMetadata(wiki.id))?.client_secret, fresh);
    // A reload of the page that showed it rotates nothing and shows no secret.
    assert.equal(new URL(page.url).pathname, `/admin/applications/${wiki.id}/secret`);
    const reloaded = await admin.get(page.url);
    assert.equal(secretOn(reloaded.html), undefined);
    assert.ok(!reloaded.html.includes(fresh));
    assert.equal((await lk.services.applications.clientMetadata(wiki.id))?.client_secret, fresh, 'rotated once');
    const rotations = await lk.services.db.selectFrom('audit_events').select('id').where('type', '=', 'application.secret_rotated').execute();
    assert.equal(rotations.length, 1);
  });

  it('Remove Application asks first, then removes it', async () => {
    const wiki = (await lk.services.applications.list()).find((app) => app.name === 'Team Wiki')!;
    let page = await admin.get(`/admin/applications/${wiki.id}/remove`);
    assert.match(textOf(page.html), /Remove Team Wiki\?/);
    page = await admin.post(`/admin/applications/${wiki.id}/remove`, {});
    assert.match(textOf(page.html), /The application was removed/);
    assert.equal(await lk.services.applications.get(wiki.id), undefined);
    assert.equal((await admin.get(`/admin/applications/${wiki.id}`)).status, 404);
    assert.equal((await admin.get('/admin/applications/app_nonexistent')).status, 404);
  });

  it('a new secret travels sealed, in a cookie only the page of its own application takes', async () => {
    const { application: wiki } = await lk.services.applications.create(
      { name: 'Notes', kind: 'confidential', firstParty: true, redirectUris: ['https://notes.example.com/cb'], postLogoutRedirectUris: [], scopes: [] },
      COMMAND_LINE,
    );
    const other = await lk.services.applications.create(
      { name: 'Other', kind: 'confidential', firstParty: false, redirectUris: ['https://other.example.com/cb'], postLogoutRedirectUris: [], scopes: [] },
      COMMAND_LINE,
    );
    await admin.get(`/admin/applications/${wiki.id}/rotate-secret`);
    const cookie = () => [...admin.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(`${lk.url}/admin/applications/${wiki.id}/rotate-secret`, {
      method: 'POST',
      headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: admin.csrfToken() }),
      redirect: 'manual',
    });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), `/admin/applications/${wiki.id}/secret`);
    const secret = (await lk.services.applications.clientMetadata(wiki.id))?.client_secret as string;
    const handoff = response.headers.getSetCookie().find((line) => line.startsWith('latchkey_new-secret='))!;
    assert.match(handoff, /HttpOnly/i);
    assert.ok(!decodeURIComponent(handoff).includes(secret), 'the cookie holds the secret sealed, never in clear');
    const elsewhere = await fetch(`${lk.url}/admin/applications/${other.application.id}/secret`, {
      headers: { cookie: `${cookie()}; ${handoff.split(';')[0]}` },
      redirect: 'manual',
    });
    assert.equal(elsewhere.status, 303, "another application's page does not show it");
    assert.equal(elsewhere.headers.get('location'), `/admin/applications/${other.application.id}?notice=secret-shown`);
  });

  it('only administrators see the pages, and every form needs its CSRF token', async () => {
    const user = new WebClient(lk.url);
    await user.get('/login');
    await user.post('/login', { email: 'user@example.com', password: GOOD_PASSWORD });
    for (const path of ['/admin/applications', '/admin/applications/new']) assert.equal((await user.get(path)).status, 403, path);
    assert.equal((await user.post('/admin/applications', { name: 'Sneaky', redirectUris: 'https://evil.example/cb', kind: 'public' })).status, 403);
    const anonymous = new WebClient(lk.url);
    assert.match((await anonymous.get('/admin/applications')).url, /\/login\?next=/);
    const before = (await lk.services.applications.list()).length;
    const page = await admin.request('POST', '/admin/applications', new URLSearchParams({ name: 'No token', redirectUris: 'https://x.example/cb', kind: 'public' }));
    assert.equal(page.status, 403);
    assert.equal((await lk.services.applications.list()).length, before);
  });
});

describe('latchkey apps', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'latchkey-apps-'));
    env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir, 'db'), LATCHKEY_DATA_DIR: dir };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `latchkey …` from the sources, as `npx latchkey` runs it during development. */
  const latchkey = (args: string[]) => runLatchkey(args, { env });

  /** What the server would hand oidc-provider for this client, read in another process as the server would. */
  async function metadata(id: string) {
    const services = await createServices(loadConfig({ ...env, NODE_ENV: 'test' }, dir), systemClock, createLogger('silent'));
    try {
      return await services.applications.clientMetadata(id);
    } finally {
      await services.close();
    }
  }

  it('apps add prints the client ID and the secret once; list, rotate-secret and remove work on it', async () => {
    let result = await latchkey(['apps', 'add', '--name', 'Grafana', '--redirect-uri', 'https://grafana.example.com/login/generic_oauth', '--scope', 'profile', '--scope', 'email latchkey_admin']);
    assert.equal(result.code, 0, result.stderr);
    const id = /^Client ID: (app_\S+)$/m.exec(result.stdout)?.[1];
    const secret = /^Client secret: (\S+)$/m.exec(result.stdout)?.[1];
    assert.ok(id && secret, result.stdout);
    assert.match(result.stdout, /Copy the client secret now/);
    assert.match(result.stdout, /confidential, third-party; scopes: openid profile email latchkey_admin/);
    assert.equal((await metadata(id))?.client_secret, secret);

    result = await latchkey(['apps', 'add', '--name', 'CLI tool', '--public', '--first-party', '--redirect-uri', 'http://127.0.0.1:8400/cb', '--redirect-uri', 'http://[::1]:8400/cb']);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /Client secret/);

    result = await latchkey(['apps', 'list']);
    assert.equal(result.code, 0, result.stderr);
    const rows = result.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
    assert.deepEqual(rows.map((row) => row[1]), ['CLI tool', 'Grafana']);
    assert.deepEqual(rows[1], [id, 'Grafana', 'Confidential', 'Third-party', 'https://grafana.example.com/login/generic_oauth', 'openid profile email latchkey_admin']);
    assert.deepEqual(rows[0]!.slice(2, 5), ['Public', 'First-party', 'http://127.0.0.1:8400/cb http://[::1]:8400/cb']);

    result = await latchkey(['apps', 'rotate-secret', id]);
    assert.equal(result.code, 0, result.stderr);
    const fresh = /^Client secret: (\S+)$/m.exec(result.stdout)?.[1];
    assert.ok(fresh && fresh !== secret);
    assert.equal((await metadata(id))?.client_secret, fresh);

    result = await latchkey(['apps', 'remove', id]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Removed application Grafana/);
    assert.equal(await metadata(id), undefined);
  });

  it('refusals are one line with exit 1; wrong usage exits 2', async () => {
    const oneLine = (result: Run, pattern: RegExp) => {
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
    };
    oneLine(await latchkey(['apps', 'add', '--name', 'Wiki', '--redirect-uri', 'http://wiki.example.com/cb']), /^latchkey: Redirect URIs: .*must start with https:\/\//);
    oneLine(await latchkey(['apps', 'add', '--name', 'Wiki', '--redirect-uri', 'https://wiki.example.com/cb', '--scope', 'admin']), /Unknown scope/);
    oneLine(await latchkey(['apps', 'remove', 'app_missing']), /^latchkey: no application has the client ID app_missing\n$/);
    oneLine(await latchkey(['apps', 'rotate-secret', (/^(app_\S+)\t/m.exec((await latchkey(['apps', 'list'])).stdout) ?? [])[1] ?? 'x']), /public application has no client secret/);
    for (const args of [['apps', 'add', '--name', 'Wiki'], ['apps', 'remove'], ['apps', 'frobnicate'], ['apps', 'add', '--nmae', 'x']]) {
      const result = await latchkey(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /latchkey help/);
    }
  });
});
