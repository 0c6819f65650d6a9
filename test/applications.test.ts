// Applications (OpenID Connect relying parties): registering, changing, removing them and their client secrets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from './support/app.ts';
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
