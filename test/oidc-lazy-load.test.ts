// The OpenID Connect provider is loaded at the first request that needs it, not at start (it costs ~40 MB of memory):
// an instance that has not served it yet still answers every provider route and page as if it had.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import * as oidc from 'openid-client';
import { buildApp } from '../src/app.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { textOf } from './support/client.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';

describe('the provider is loaded by its first request', () => {
  let app: TestApp;
  let clientId: string;
  // More instances of the same installation (same database and secret), each with a provider not loaded yet.
  const instances: FastifyInstance[] = [];
  const freshInstance = async () => {
    const instance = await buildApp(app.services);
    instances.push(instance);
    return instance;
  };

  before(async () => {
    app = await startTestApp();
    const created = await app.services.applications.create(
      { name: 'Wiki', kind: 'confidential', firstParty: true, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'profile'] },
      COMMAND_LINE,
    );
    clientId = created.application.id;
  });
  after(async () => {
    for (const instance of instances) await instance.close();
    await app.close();
  });

  test('requests arriving together at a fresh instance all get the provider’s answers', async () => {
    const instance = await freshInstance();
    const answers = await Promise.all([
      instance.inject('/.well-known/openid-configuration'),
      instance.inject('/oidc/jwks'),
      instance.inject('/.well-known/openid-configuration'),
      instance.inject('/oidc/jwks'),
    ]);
    assert.deepEqual(answers.map((answer) => answer.statusCode), [200, 200, 200, 200]);
    assert.equal(answers[0]!.json().issuer, app.services.config.baseUrl.href.replace(/\/$/, ''));
    assert.equal(answers[1]!.json().keys.length, 1);
  });

  test('a sign-in begun on one instance shows its login form on another that has not loaded the provider yet', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const started = await fetch(`${app.url}/oidc/auth?${query}`, { redirect: 'manual' });
    const location = started.headers.get('location');
    assert.equal(started.status, 303);
    assert.match(location ?? '', /\/oidc\/interaction\//);
    const cookie = started.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');

    const instance = await freshInstance();
    const page = await instance.inject({ url: new URL(location!, app.url).pathname, headers: { cookie } });
    assert.equal(page.statusCode, 200);
    assert.match(textOf(page.body), /Log in to continue to Wiki/);
  });
});
