// The console's guard: every /admin route the app has — found by listing its routes, so a page added later without the
// guard fails here — sends an anonymous visitor to log in and refuses a signed-in user who is not an administrator.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { fillPath, routesOf, type Route } from './support/fuzz.ts';

describe('the administrator console guard', () => {
  let lk: TestApp;
  let anonymous: WebClient;
  let member: WebClient;
  let admin: WebClient;
  let consoleRoutes: Route[];

  const cookieOf = (client: WebClient) => [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  const urlOf = (route: Route) => fillPath(route.path, [randomUUID()]);

  /** The request a browser would make: a form post carries the client's CSRF token and a field. */
  function send(route: Route, client: WebClient, url = urlOf(route)) {
    const isPost = route.method === 'POST';
    return lk.app.inject({
      method: route.method as 'GET' | 'HEAD' | 'POST',
      url,
      headers: {
        cookie: cookieOf(client),
        ...(isPost ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      payload: isPost ? new URLSearchParams({ _csrf: client.csrfToken(), name: 'x' }).toString() : undefined,
    });
  }

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true });
    await lk.createUser({ email: 'member@example.com', name: 'Mo Member' });
    // A visitor who has seen a page (so a form's token is valid) but has not logged in.
    anonymous = new WebClient(lk.url);
    await anonymous.get('/login');
    member = new WebClient(lk.url);
    await member.get('/login');
    await member.post('/login', { email: 'member@example.com', password: GOOD_PASSWORD });
    admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
    consoleRoutes = routesOf(lk.app).filter((route) => route.path === '/admin' || route.path.startsWith('/admin/') || route.path.startsWith('/admin.'));
  });
  after(async () => {
    await lk.close();
  });

  it('finds the console routes by listing the app', () => {
    const paths = new Set(consoleRoutes.map((route) => `${route.method} ${route.path}`));
    for (const expected of ['GET /admin', 'GET /admin/users', 'POST /admin/users/:id/password', 'GET /admin/audit.csv', 'POST /admin/mail-queue/:id/retry', 'POST /admin/security/alerts/:id/acknowledge', 'GET /admin/applications/:id/secret']) {
      assert.ok(paths.has(expected), `${expected} is listed (found ${[...paths].join(', ')})`);
    }
  });

  it('sends an anonymous visitor of every /admin route to the login page, and back afterwards', async () => {
    for (const route of consoleRoutes) {
      const url = urlOf(route);
      const response = await send(route, anonymous, url);
      const what = `${route.method} ${route.path}`;
      assert.equal(response.statusCode, 303, what);
      // Only a page (GET) is opened again after the login; after anything else the visitor lands on their account.
      assert.equal(response.headers.location, `/login?next=${encodeURIComponent(route.method === 'GET' ? url : '/account')}`, what);
    }
  });

  it('answers input the console would refuse as it answers any other: the visitor goes to log in, the member is not allowed', async () => {
    const bad = '/admin/users?sort=' + 'x'.repeat(5000) + '&page=-1';
    const anonymousAnswer = await lk.app.inject({ method: 'GET', url: bad, headers: { cookie: cookieOf(anonymous) } });
    assert.equal(anonymousAnswer.statusCode, 303);
    assert.match(String(anonymousAnswer.headers.location), /^\/login\?next=/);
    const memberAnswer = await lk.app.inject({ method: 'GET', url: bad, headers: { cookie: cookieOf(member) } });
    assert.equal(memberAnswer.statusCode, 403);
    const adminAnswer = await lk.app.inject({ method: 'GET', url: bad, headers: { cookie: cookieOf(admin) } });
    assert.equal(adminAnswer.statusCode, 400, 'an administrator is told the input is wrong');
  });

  it('refuses a signed-in user who is not an administrator on every /admin route, with the "Not allowed" page', async () => {
    await member.get('/account');
    for (const route of consoleRoutes) {
      const response = await send(route, member);
      const what = `${route.method} ${route.path}`;
      assert.equal(response.statusCode, 403, what);
      assert.match(String(response.headers['content-type']), /^text\/html/, what);
      if (route.method !== 'HEAD') assert.match(textOf(response.body), /Not allowed.*for administrators only/, what);
    }
    assert.equal((await member.get('/account')).status, 200, 'the member is still signed in');
  });

  it('lets an administrator in: every console page without an id opens', async () => {
    for (const route of consoleRoutes.filter((r) => r.method === 'GET' && !r.path.includes(':'))) {
      const response = await send(route, admin);
      assert.ok([200, 303].includes(response.statusCode), `${route.path}: ${response.statusCode}`);
      if (response.statusCode === 303) assert.equal(response.headers.location, '/admin/users', route.path);
    }
  });
});
