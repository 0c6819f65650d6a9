// Fuzzing with fast-check: generated requests against every route, form, query string and cookie, and generated
// command lines against every command. Whatever arrives, Latchkey answers without a 5xx and without a stack trace
// or other internal detail, and a request it refuses leaves the database as it was. The seed is fixed (printed;
// FUZZ_SEED=<n> picks another), so a failure replays.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { LightMyRequestResponse as InjectResponse } from 'fastify';
import { ManualClock } from '../src/infra/clock.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { freshDatabaseUrl, onPostgres } from './support/database.ts';
import { freePort } from './support/net.ts';
import {
  CommandLine,
  encodePairs,
  encodePart,
  ENCODINGS,
  fieldName,
  fieldValue,
  fillPath,
  formVocabulary,
  FUZZ_SEED,
  headerText,
  hostileText,
  leakedInternal,
  routesOf,
  WriteJournal,
  type Encoding,
  type Route,
} from './support/fuzz.ts';

// At least 10,000 cases on the SQLite pass alone; the PostgreSQL pass adds a smaller round on the same generators.
// FUZZ_SCALE multiplies every count, for a deeper search by hand.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const RUNS = Object.fromEntries(
  Object.entries(onPostgres ? { get: 1500, post: 2200, cookie: 700, wire: 300, cli: 300 } : { get: 3000, post: 4000, cookie: 1500, wire: 500, cli: 1000 }).map(([kind, runs]) => [kind, Math.max(1, Math.round(runs * SCALE))]),
) as Record<'get' | 'post' | 'cookie' | 'wire' | 'cli', number>;

/**
 * What "unchanged" means: every table except those that record what happened. A refused request is still an
 * event — a failed login, a refused link and a throttled post are audited and counted — so the audit log and
 * the throttle's counts may grow; and the OpenID Connect provider keeps a visitor's sign-in and logout state
 * (its Session and Interaction records, which expire) from the first request to its routes, answered or not.
 * Nothing else (users, sessions, links, reset requests, mail, servers, applications, alerts, …) may change.
 * Alerts are raised by a periodic check that this test does not start.
 */
const RECORDS_OF_WHAT_HAPPENED = /^(audit_events|throttle_counts|oidc_models)$/;

const ADMIN = { email: 'fuzz-admin@example.com', name: 'Fuzz Admin', password: 'Quiet-Lantern-93!' };
const MEMBER = { email: 'fuzz-member@example.com', name: 'Fuzz Member', password: 'Amber-Thistle-71?' };
const TARGET = { email: 'target@example.com', name: 'Tess Target' };

type VisitorName = 'anonymous' | 'member' | 'admin' | 'reset';
const VISITORS: VisitorName[] = ['anonymous', 'member', 'admin', 'admin', 'admin', 'reset'];

/** A browser without JavaScript: its cookies and the CSRF token of the last page it saw. */
interface Visitor {
  cookies: Map<string, string>;
  csrf: string;
}

interface Answer {
  /** The first answer's status: what the request itself got. */
  status: number;
  /** Every status on the connection, when broken framing made one request read as two. */
  statuses?: number[];
  location: string;
  text: string;
}

let t: TestApp;
let journal: WriteJournal;
let closedPort: number;
const visitors = new Map<VisitorName, Visitor>();
const fixture = { targetId: '', adminId: '', memberId: '', serverId: '', messageId: '', token: '' };
let routes: Route[] = [];
let names: string[] = [];
let queryNames: string[] = [];
let plausible: string[] = [];
let cookieNames: string[] = [];
let cases = 0;

function cookieHeader(visitor: Visitor): string {
  return [...visitor.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
}

function remember(visitor: Visitor, response: InjectResponse): void {
  for (const cookie of response.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
    if (!cookieNames.includes(cookie.name)) cookieNames.push(cookie.name);
    const gone = cookie.value === '' || cookie.maxAge === 0 || (cookie.expires !== undefined && cookie.expires.getTime() < Date.now());
    if (gone) visitor.cookies.delete(cookie.name);
    else visitor.cookies.set(cookie.name, cookie.value);
  }
  const token = /name="_csrf" value="([^"]*)"/.exec(response.body);
  if (token) visitor.csrf = token[1]!;
}

/** A step of the setup, as a browser takes it: cookies kept, token read from the page. */
async function browse(visitor: Visitor, method: 'GET' | 'POST', url: string, fields?: Record<string, string>, remoteAddress = '127.0.0.1') {
  const response = await t.app.inject({
    method,
    url,
    remoteAddress,
    headers: {
      cookie: cookieHeader(visitor),
      ...(fields ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    payload: fields ? new URLSearchParams({ _csrf: visitor.csrf, ...fields }).toString() : undefined,
  });
  remember(visitor, response);
  return response;
}

async function logIn(account: { email: string; password: string }): Promise<Visitor> {
  const visitor: Visitor = { cookies: new Map(), csrf: '' };
  await browse(visitor, 'GET', '/login');
  // A fresh address, so the fuzzer's failed logins from 127.0.0.1 never pause the fixture's own.
  const answer = await browse(visitor, 'POST', '/login', { email: account.email, password: account.password }, '127.0.0.9');
  assert.equal(answer.statusCode, 303, `log in as ${account.email}`);
  assert.equal((await browse(visitor, 'GET', '/account')).statusCode, 200);
  return visitor;
}

async function openResetLink(): Promise<Visitor> {
  const { link } = await t.services.recovery.linkForHand(fixture.targetId, COMMAND_LINE);
  fixture.token = new URL(link).pathname.split('/').pop()!;
  const visitor: Visitor = { cookies: new Map(), csrf: '' };
  assert.equal((await browse(visitor, 'GET', `/reset-password/${fixture.token}`)).statusCode, 303);
  assert.equal((await browse(visitor, 'GET', '/reset-password/new')).statusCode, 200);
  return visitor;
}

/** After an accepted request: the fixture's sessions and reset link still work, or are made again. */
async function restoreVisitors(): Promise<void> {
  for (const [name, account] of [['admin', ADMIN], ['member', MEMBER]] as const) {
    const answer = await browse(visitors.get(name)!, 'GET', '/account');
    if (answer.statusCode !== 200) visitors.set(name, await logIn(account));
  }
  const target = await t.services.users.get(fixture.targetId);
  if (target?.status === 'active' && (await browse(visitors.get('reset')!, 'GET', '/reset-password/new')).statusCode !== 200) {
    visitors.set('reset', await openResetLink());
  }
}

/** Refused: an error status, or sent to log in first. */
function isRefusal(status: number, location: string): boolean {
  return status >= 400 || location.startsWith('/login?next=');
}

/** Answers per status, reported after each property, to show the cases reached past parsing and CSRF. */
const statuses = new Map<string, number>();

function statusReport(): string {
  const report = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status}×${count}`).join(' ');
  statuses.clear();
  return report;
}

/** The checks every answer gets; `refused` answers must also leave the watched tables as they were. */
async function expectCalm(what: string, answer: Answer, journalBefore: string, route: Route, refused = isRefusal(answer.status, answer.location)): Promise<void> {
  cases++;
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  count(String(answer.status));
  const describe = () => `${what}\n→ ${answer.status} ${answer.location}\n${answer.text.slice(0, 600)}`;
  for (const status of answer.statuses ?? [answer.status]) {
    if (status >= 500) assert.ok(designedServerAnswer({ ...answer, status }, route), `a ${status} answer:\n${describe()}`);
  }
  // The scripts Latchkey serves (the passkey ceremony) are code for the browser, not text a person reads.
  const script =
    route.path.startsWith('/assets/') && /^content-type: text\/javascript/im.test(answer.text) && (answer.statuses ?? [answer.status]).every((status) => status === 200);
  const leak = script ? null : leakedInternal(answer.text);
  assert.equal(leak, null, `internal detail in the answer (${leak}):\n${describe()}`);
  const journalAfter = await journal.read();
  const changed = WriteJournal.changed(journalBefore, journalAfter);
  assert.ok(!refused || changed.length === 0, `a refused request (${answer.status}) wrote to ${changed.join(', ')}:\n${describe()}`);
  if (changed.length > 0) {
    count('wrote');
    await restoreVisitors();
  }
}

/**
 * The two 5xx answers Latchkey gives on purpose, each a page that says why: "Test Connection" and "Send Test
 * Email" answer 502 when the SMTP server fails, and /readyz answers 503 while the mail worker is stopped (as it
 * is here, so that every write the journal sees is a request's own).
 */
function designedServerAnswer(answer: Answer, route: Route): boolean {
  if (answer.status === 502) return answer.text.includes('Test Connection') && !answer.text.includes('Something went wrong');
  if (answer.status !== 503 || route.path !== '/readyz') return false;
  return route.method === 'HEAD' || (/"status":"not ready"/.test(answer.text) && /"mailWorker":"stopped"/.test(answer.text));
}

function fromInject(response: InjectResponse): Answer {
  const headers = Object.entries(response.headers)
    .filter(([name]) => name !== 'set-cookie')
    .map(([name, value]) => `${name}: ${String(value)}`)
    .join('\n');
  return { status: response.statusCode, location: String(response.headers.location ?? ''), text: `${headers}\n\n${response.body}` };
}

/** Where a generated request goes: a route, its path parameters, and who sends it. */
const paramValue = (values: string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...values) },
    { weight: 3, arbitrary: fc.tuple(hostileText, fc.constantFrom(...ENCODINGS)).map(([text, encoding]) => encodePart(text, encoding)) },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%E0%A4%A', '%', 'x'.repeat(201), 'x'.repeat(5000), 'new', 'bulk-reset', '%20', '0', '-1') },
  );

function csrfPairs(mode: string, visitor: Visitor, garbage: string): Array<[string, string]> {
  const other = [...visitors.values()].find((candidate) => candidate.csrf && candidate.csrf !== visitor.csrf)?.csrf ?? '';
  switch (mode) {
    case 'valid':
      return [['_csrf', visitor.csrf]];
    case 'garbage':
      return [['_csrf', garbage]];
    case 'repeated':
      return [['_csrf', visitor.csrf], ['_csrf', visitor.csrf]];
    case 'bracket':
      return [['_csrf[]', visitor.csrf]];
    case 'other':
      return [['_csrf', other]];
    default:
      return [];
  }
}

/** Mail server forms connect to the host they are given: only ever to a closed port on this machine. */
function keepMailTestsLocal(route: Route, pairs: Array<[string, string]>): Array<[string, string]> {
  if (!route.path.startsWith('/admin/mail-servers')) return pairs;
  return pairs.map(([name, value]) => {
    if (name === 'host' && /^[\w.:[\]-]+$/.test(value.trim())) return [name, '127.0.0.1'];
    if (name === 'port' && /^\s*\d+\s*$/.test(value)) return [name, String(closedPort)];
    return [name, value];
  });
}

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/x-www-form-urlencoded; charset=ISO-8859-1',
  'Application/X-WWW-Form-Urlencoded',
  'application/x-www-form-urlencoded;',
  'application/x-www-form-urlencoded; charset="utf-8"; x=y',
  'application/x-www-form-urlencodedx',
  ' application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded, application/json',
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data',
  'multipart/form-data; boundary=fuzz',
  'application/octet-stream',
  'application/xml',
  'text/html',
  '*/*',
  ';',
  '',
];

type Format = 'form' | 'json' | 'multipart' | 'text' | 'none' | 'bytes';

/** The body of a generated post; the CSRF pair is encoded as a browser would, the fields as generated. */
function body(format: Format, fields: Array<[string, string]>, token: Array<[string, string]>, tokenLast: boolean, encoding: Encoding, junk: Uint8Array | null): { payload: Buffer; type: string | null } {
  const pairs = tokenLast ? [...fields, ...token] : [...token, ...fields];
  const form = [encodePairs(tokenLast ? fields : token, tokenLast ? encoding : 'percent'), encodePairs(tokenLast ? token : fields, tokenLast ? 'percent' : encoding)].filter(Boolean).join('&');
  const withJunk = (buffer: Buffer) => (junk ? Buffer.concat([buffer.subarray(0, junk[0]! % (buffer.length + 1)), junk, buffer.subarray(junk[0]! % (buffer.length + 1))]) : buffer);
  switch (format) {
    case 'json': {
      // Arrays and objects where strings belong.
      const object: Record<string, unknown> = {};
      pairs.forEach(([name, value], index) => (object[name] = index % 3 === 0 ? value : index % 3 === 1 ? [value, value] : { value }));
      return { payload: withJunk(Buffer.from(JSON.stringify(object))), type: 'application/json' };
    }
    case 'multipart': {
      const parts = pairs.map(([name, value]) => `--fuzz\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join('');
      return { payload: withJunk(Buffer.from(`${parts}--fuzz--\r\n`)), type: 'multipart/form-data; boundary=fuzz' };
    }
    case 'text':
      return { payload: withJunk(Buffer.from(pairs.map(([name, value]) => `${name}=${value}`).join('\n'))), type: 'text/plain' };
    case 'bytes':
      return { payload: withJunk(Buffer.alloc(0)), type: 'application/x-www-form-urlencoded' };
    case 'none':
      return { payload: withJunk(Buffer.from(form)), type: null };
    default:
      return { payload: withJunk(Buffer.from(form)), type: 'application/x-www-form-urlencoded' };
  }
}

const optional = <T>(arbitrary: fc.Arbitrary<T>, nothing: T, weight = 3) => fc.oneof({ weight, arbitrary: fc.constant(nothing) }, { weight: 1, arbitrary });

before(async () => {
  closedPort = await freePort();
  // A held clock: sessions neither expire nor slide during the run, so a write is always the request's own.
  t = await startTestApp({ clock: new ManualClock(Date.now()), startWorker: false });
  fixture.adminId = (await t.createUser({ ...ADMIN, admin: true })).id;
  fixture.memberId = (await t.createUser(MEMBER)).id;
  fixture.targetId = (await t.createUser({ ...TARGET, password: GOOD_PASSWORD })).id;
  await t.createUser({ email: 'other@example.com', name: 'Otto Other' });
  visitors.set('admin', await logIn(ADMIN));
  visitors.set('member', await logIn(MEMBER));
  const anonymous: Visitor = { cookies: new Map(), csrf: '' };
  await browse(anonymous, 'GET', '/login');
  visitors.set('anonymous', anonymous);

  const admin = visitors.get('admin')!;
  await browse(admin, 'GET', '/admin/mail-servers/new');
  const saved = await browse(admin, 'POST', '/admin/mail-servers', { intent: 'save', name: 'Fuzz SMTP', host: '127.0.0.1', port: String(closedPort), security: 'none', username: '', password: '', from: '' });
  fixture.serverId = /\/admin\/mail-servers\/([^?]+)/.exec(String(saved.headers.location))![1]!;
  await browse(admin, 'GET', `/admin/users/${fixture.targetId}/send-reset`);
  assert.equal((await browse(admin, 'POST', `/admin/users/${fixture.targetId}/send-reset`, {})).statusCode, 303);
  fixture.messageId = /\/admin\/mail-queue\/([\w-]+)/.exec((await browse(admin, 'GET', '/admin/mail-queue')).body)![1]!;
  visitors.set('reset', await openResetLink());

  routes = routesOf(t.app);
  for (const expected of ['GET /login', 'POST /login', 'GET /admin/users/:id', 'POST /reset-password/new', 'GET /metrics']) {
    assert.ok(routes.some((route) => `${route.method} ${route.path}` === expected), `${expected} in Fastify's route table`);
  }
  // The vocabulary of every page as its users see it: field names, option values, query parameters.
  const vocabulary = { names: new Set(['next', 'notice', 'page', 'q', 'filter', 'sort', 'dir', 'status', 'user', 'type', 'from', 'to']), values: new Set<string>() };
  const firstIds = { id: fixture.targetId, token: fixture.token };
  for (const route of routes.filter((candidate) => candidate.method === 'GET')) {
    for (const visitor of [admin, visitors.get('reset')!]) {
      const url = route.path.replace(/:(\w+)/g, (_match, name: string) => firstIds[name as keyof typeof firstIds] ?? 'x');
      const page = await t.app.inject({ method: 'GET', url, headers: { cookie: cookieHeader(visitor) } });
      const found = formVocabulary(page.body);
      for (const name of found.names) vocabulary.names.add(name);
      for (const value of found.values) vocabulary.values.add(value);
    }
  }
  // The token has its own generator (valid, missing, repeated, …): as a plain field it would mostly repeat it.
  names = [...vocabulary.names].filter((name) => name !== '_csrf');
  queryNames = names;
  const fixtureEmails = [ADMIN.email, MEMBER.email];
  plausible = [
    ...[...vocabulary.values].filter((value) => !fixtureEmails.includes(value.toLowerCase())),
    TARGET.email,
    TARGET.email.toUpperCase(),
    'nobody@example.com',
    'New.Person@Example.com',
    GOOD_PASSWORD,
    'Another-Strong-77!',
    'short',
    fixture.targetId,
    fixture.messageId,
    fixture.serverId,
    'save',
    'test',
    'send',
    'admin',
    'user',
    'up',
    'down',
    'matching',
    'selected',
    '1',
    '2',
  ];
  journal = await WriteJournal.install(t.services.db, RECORDS_OF_WHAT_HAPPENED);
});

after(async () => {
  await t?.close();
});

test('every GET route answers generated query strings and path parameters calmly', async (context) => {
  const gets = routes.filter((route) => route.method === 'GET' || route.method === 'HEAD');
  const ids = [fixture.targetId, fixture.adminId, fixture.memberId, fixture.serverId, fixture.messageId, fixture.token];
  statuses.clear();
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        route: fc.constantFrom(...gets),
        params: fc.array(paramValue(ids), { minLength: 1, maxLength: 2 }),
        visitor: fc.constantFrom(...VISITORS),
        query: fc.array(fc.tuple(fieldName(queryNames), fieldValue(plausible)), { maxLength: 6 }),
        encoding: fc.constantFrom(...ENCODINGS),
        suffix: optional(fc.constantFrom('?', '??', '?&', '?=', '?a', '?%', '?%E0%A4%A', '#frag', '?a=1#b', '&a=1', ';a=1', '?a[b]=1&a[c]=2', '?a=1&a=2&a=3'), ''),
        agent: optional(hostileText.map(headerText), null),
      }),
      async (c) => {
        const visitor = visitors.get(c.visitor)!;
        const query = c.query.length > 0 ? `?${encodePairs(c.query, c.encoding)}` : '';
        const url = fillPath(c.route.path, c.params) + query + c.suffix;
        const journalBefore = await journal.read();
        const response = await t.app.inject({
          method: c.route.method as 'GET' | 'HEAD',
          url,
          headers: { cookie: cookieHeader(visitor), ...(c.agent !== null ? { 'user-agent': c.agent } : {}) },
        });
        await expectCalm(`${c.route.method} ${url} as ${c.visitor}`, fromInject(response), journalBefore, c.route);
      },
    ),
    {
      seed: FUZZ_SEED,
      numRuns: RUNS.get,
      // Found by the fuzzer on PostgreSQL, which cannot hold U+0000 in text: each answered 500 before the edge refused it.
      examples: [
        [{ route: { method: 'GET', path: '/admin/users/:id' }, params: ['%00'], visitor: 'admin', query: [], encoding: 'percent', suffix: '', agent: null }],
        [{ route: { method: 'GET', path: '/admin/audit' }, params: [], visitor: 'admin', query: [['user', 'a\u0000b']], encoding: 'percent', suffix: '', agent: null }],
        [{ route: { method: 'GET', path: '/admin/users' }, params: [], visitor: 'admin', query: [['q', '\u0000']], encoding: 'percent', suffix: '', agent: null }],
      ],
    },
  );
  context.diagnostic(`${RUNS.get} GET cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${FUZZ_SEED}); answers: ${statusReport()}`);
});

/** A plain, valid form post, for the examples the fuzzer found. */
const POST_EXAMPLE = {
  route: { method: 'POST', path: '/login' },
  params: ['x'],
  visitor: 'admin' as VisitorName,
  csrf: 'valid' as 'valid' | 'missing' | 'garbage' | 'repeated' | 'bracket' | 'other',
  garbageToken: '',
  csrfLast: false,
  pairs: [] as Array<[string, string]>,
  repeat: false,
  encoding: 'percent' as Encoding,
  format: 'form' as Format,
  type: null as string | null,
  junk: null as Uint8Array | null,
  padding: 0,
  query: [] as Array<[string, string]>,
  agent: null as string | null,
};

test('every form answers generated bodies, encodings, content types and CSRF tokens calmly', async (context) => {
  const posts = routes.filter((route) => route.method === 'POST');
  // Posts never name the fixture's own accounts in the path: archiving the administrator would end the run's sessions.
  const ids = [fixture.targetId, fixture.serverId, fixture.messageId, fixture.token];
  statuses.clear();
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        route: fc.constantFrom(...posts),
        params: fc.array(paramValue(ids), { minLength: 1, maxLength: 2 }),
        visitor: fc.constantFrom(...VISITORS),
        csrf: fc.oneof({ weight: 12, arbitrary: fc.constant('valid') }, { weight: 5, arbitrary: fc.constantFrom('missing', 'garbage', 'repeated', 'bracket', 'other') }),
        garbageToken: hostileText,
        csrfLast: fc.boolean(),
        pairs: fc.array(fc.tuple(fieldName(names), fieldValue(plausible)), { maxLength: 8 }),
        repeat: optional(fc.constant(true), false, 6),
        encoding: fc.constantFrom(...ENCODINGS),
        format: fc.oneof({ weight: 15, arbitrary: fc.constant<Format>('form') }, { weight: 5, arbitrary: fc.constantFrom<Format>('json', 'multipart', 'text', 'none', 'bytes') }),
        type: optional(fc.oneof(fc.constantFrom(...CONTENT_TYPES), hostileText.map(headerText)), null, 8),
        junk: optional(fc.uint8Array({ minLength: 1, maxLength: 32 }), null, 4),
        padding: optional(fc.constantFrom(8000, 16 * 1024 - 200, 16 * 1024, 16 * 1024 + 1, 20_000, 100_000), 0, 12),
        query: optional(fc.array(fc.tuple(fieldName(queryNames), fieldValue(plausible)), { minLength: 1, maxLength: 3 }), []),
        agent: optional(hostileText.map(headerText), null),
      }),
      async (c) => {
        const visitor = visitors.get(c.visitor)!;
        const token = csrfPairs(c.csrf, visitor, c.garbageToken);
        let pairs = keepMailTestsLocal(c.route, c.pairs);
        if (c.repeat) pairs = [...pairs, ...pairs];
        if (c.padding > 0) pairs = [...pairs, [pairs[0]?.[0] ?? 'email', 'a'.repeat(c.padding)]];
        const { payload, type } = body(c.format, pairs, token, c.csrfLast, c.encoding, c.junk);
        const contentType = c.type ?? type;
        const query = c.query.length > 0 ? `?${encodePairs(c.query, c.encoding)}` : '';
        const url = fillPath(c.route.path, c.params) + query;
        const journalBefore = await journal.read();
        const response = await t.app.inject({
          method: 'POST',
          url,
          payload,
          headers: {
            cookie: cookieHeader(visitor),
            ...(contentType !== null ? { 'content-type': contentType } : {}),
            ...(c.agent !== null ? { 'user-agent': c.agent } : {}),
          },
        });
        const what = `POST ${url} as ${c.visitor}, ${contentType}, CSRF ${c.csrf}: ${payload.subarray(0, 400).toString('latin1')}`;
        await expectCalm(what, fromInject(response), journalBefore, c.route);
      },
    ),
    {
      seed: FUZZ_SEED + 1,
      numRuns: RUNS.post,
      // Found by the fuzzer on PostgreSQL (U+0000 in a path or a field): 500s before the edge refused them.
      examples: [
        [{ ...POST_EXAMPLE, route: { method: 'POST', path: '/admin/users/:id' }, params: ['%00'] }],
        [{ ...POST_EXAMPLE, route: { method: 'POST', path: '/login' }, visitor: 'anonymous', pairs: [['email', 'a\u0000b@example.com'], ['password', 'x']] }],
        [{ ...POST_EXAMPLE, route: { method: 'POST', path: '/admin/users/bulk-reset' }, pairs: [['scope', 'matching'], ['q', '\u0000'], ['confirmed', '1']] }],
      ],
    },
  );
  context.diagnostic(`${RUNS.post} form cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${FUZZ_SEED + 1}); answers: ${statusReport()}`);
});

test('garbage, huge, repeated and many cookies are answered calmly on every route', async (context) => {
  const ids = [fixture.targetId, fixture.serverId, fixture.messageId, fixture.token];
  const tokens = () => [...visitors.values()].flatMap((visitor) => [...visitor.cookies.values()]);
  const cookieValue = fc.oneof(
    { weight: 4, arbitrary: hostileText.map(headerText) },
    { weight: 2, arbitrary: fc.constantFrom('%', '%E0%A4%A', '%zz', '""', '"abc', '"a;b"', 'a;b', '=', '==', 's:abc.def', 'j:{"a":1}', 'x'.repeat(101), ' ') },
    { weight: 2, arbitrary: fc.nat().map((index) => tokens()[index % tokens().length] ?? '') },
  );
  statuses.clear();
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        route: fc.constantFrom(...routes.filter((route) => route.method !== 'HEAD')),
        params: fc.array(paramValue(ids), { minLength: 1, maxLength: 2 }),
        visitor: fc.constantFrom(...VISITORS),
        keep: fc.boolean(),
        extraFirst: fc.boolean(),
        extra: fc.array(fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...cookieNames) }, { weight: 1, arbitrary: hostileText.map(headerText) }), cookieValue), { maxLength: 6 }),
        many: optional(fc.integer({ min: 50, max: 300 }), 0, 6),
        huge: optional(fc.constantFrom(4096, 8192, 16_000, 40_000), 0, 8),
        raw: optional(hostileText.map(headerText), null, 8),
      }),
      async (c) => {
        const visitor = visitors.get(c.visitor)!;
        const extra = [...c.extra];
        for (let i = 0; i < c.many; i++) extra.push([`c${i}`, String(i)]);
        if (c.huge > 0) extra.push([cookieNames[0] ?? 'big', 'x'.repeat(c.huge)]);
        const own = c.keep ? cookieHeader(visitor) : '';
        const made = extra.map(([name, value]) => `${name}=${value}`).join('; ');
        const cookie = c.raw ?? [c.extraFirst ? made : own, c.extraFirst ? own : made].filter(Boolean).join('; ');
        const url = fillPath(c.route.path, c.params);
        const post = c.route.method === 'POST';
        const journalBefore = await journal.read();
        const response = await t.app.inject({
          method: c.route.method as 'GET' | 'POST',
          url,
          headers: { cookie, ...(post ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          payload: post ? `_csrf=${encodeURIComponent(visitor.csrf)}` : undefined,
        });
        await expectCalm(`${c.route.method} ${url} with Cookie: ${cookie.slice(0, 400)}`, fromInject(response), journalBefore, c.route);
      },
    ),
    { seed: FUZZ_SEED + 2, numRuns: RUNS.cookie },
  );
  context.diagnostic(`${RUNS.cookie} cookie cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${FUZZ_SEED + 2}); answers: ${statusReport()}`);
});

/**
 * Requests the server is still working on, and how it answered each. Broken framing can make one request read
 * as two: the second's 400 closes the connection while the first is still running (the client never sees the
 * first answer), so the server's own answers say whether anything was accepted, and its writes must not land in
 * the next case.
 */
let inFlight = 0;
/** Every answer the server wrote during a case, with the request it answered (a late one may belong to the case before). */
let served: Array<Answer & { request: Route }> = [];

function countRequests(): void {
  t.app.server.on('request', (request, response) => {
    if (response.writableEnded) return;
    inFlight++;
    // A request is over when its answer ends, or when its connection is gone first: the provider's routes (Koa)
    // rightly write nothing to a socket that was destroyed under them, so they never call end().
    let over = false;
    const finish = () => {
      if (!over) inFlight--;
      over = true;
    };
    response.once('close', finish);
    const end = response.end.bind(response) as (...args: unknown[]) => typeof response;
    response.end = ((...args: unknown[]) => {
      finish();
      served.push({
        status: response.statusCode,
        location: String(response.getHeader('location') ?? ''),
        text: typeof args[0] === 'string' || Buffer.isBuffer(args[0]) ? String(args[0]) : '',
        request: { method: request.method ?? '', path: (request.url ?? '').split('?')[0]! },
      });
      response.end = end as typeof response.end;
      return end(...args);
    }) as typeof response.end;
  });
}

async function quiet(): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (inFlight > 0) {
    assert.ok(performance.now() < deadline, 'a request was still running 10 s after its connection closed');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** One request as raw bytes over a real socket: what `inject` cannot send (raw bytes in the path, broken framing). */
function overTheWire(request: Buffer): Promise<Answer> {
  const port = Number(new URL(t.url).port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no answer within 10 s to ${request.subarray(0, 300).toString('latin1')}`));
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const statuses = [...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((match) => Number(match[1]));
      const location = /^location: (.*)$/im.exec(text)?.[1]?.trim() ?? '';
      resolve({ status: statuses[0] ?? 0, statuses, location, text });
    });
  });
}

test('raw requests with invalid bytes in the path, headers and body, and broken framing, are answered calmly', async (context) => {
  countRequests();
  const ids = [fixture.targetId, fixture.serverId, fixture.messageId, fixture.token];
  statuses.clear();
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'get', 'BREW'),
        route: fc.constantFrom(...routes),
        params: fc.array(paramValue(ids), { minLength: 1, maxLength: 2 }),
        visitor: fc.constantFrom(...VISITORS),
        pathBytes: optional(fc.uint8Array({ minLength: 1, maxLength: 24 }).map((bytes) => Buffer.from(bytes.filter((byte) => byte > 0x20 && byte !== 0x7f))), Buffer.alloc(0), 2),
        pathBytesAt: fc.constantFrom('path', 'query'),
        longPath: optional(fc.constantFrom(2000, 9000, 70_000), 0, 8),
        cookieBytes: optional(fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes.filter((byte) => byte >= 0x20 && byte !== 0x7f))), null),
        type: fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'multipart/form-data', 'application/json', ''),
        fields: fc.array(fc.tuple(fieldName(names), fieldValue(plausible)), { maxLength: 4 }),
        bodyBytes: fc.uint8Array({ maxLength: 64 }),
        framing: fc.constantFrom('length', 'length', 'chunked', 'none', 'short', 'both'),
      }),
      async (c) => {
        const visitor = visitors.get(c.visitor)!;
        const base = Buffer.from(fillPath(c.route.path, c.params) + (c.longPath > 0 ? `/${'a'.repeat(c.longPath)}` : ''), 'latin1');
        const target = c.pathBytesAt === 'path' ? Buffer.concat([base, c.pathBytes]) : Buffer.concat([base, Buffer.from('?q='), c.pathBytes]);
        const fields = encodePairs(keepMailTestsLocal(c.route, c.fields), 'percent');
        const form = Buffer.concat([Buffer.from(`_csrf=${encodeURIComponent(visitor.csrf)}&${fields}&`), Buffer.from(c.bodyBytes)]);
        const payload = c.method === 'GET' || c.method === 'HEAD' ? Buffer.alloc(0) : form;
        const framing = {
          length: `content-length: ${payload.length}\r\n`,
          chunked: 'transfer-encoding: chunked\r\n',
          none: '',
          short: `content-length: ${Math.floor(payload.length / 2)}\r\n`,
          both: `content-length: ${payload.length}\r\ntransfer-encoding: chunked\r\n`,
        }[c.framing];
        const sent = c.framing === 'chunked' || c.framing === 'both' ? Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]) : payload;
        const cookie = Buffer.concat([Buffer.from(cookieHeader(visitor)), c.cookieBytes ? Buffer.concat([Buffer.from('; '), c.cookieBytes]) : Buffer.alloc(0)]);
        const request = Buffer.concat([
          Buffer.from(`${c.method} `),
          target,
          Buffer.from(` HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncookie: `),
          cookie,
          Buffer.from(`\r\n${c.type ? `content-type: ${c.type}\r\n` : ''}${framing}\r\n`),
          sent,
        ]);
        const journalBefore = await journal.read();
        served = [];
        const answer = await overTheWire(request);
        await quiet();
        const what = `raw: ${request.subarray(0, 500).toString('latin1')}`;
        const route = { method: c.method, path: c.route.path };
        // Judged by the request each answer was for: broken framing or a late answer can pair it with another route.
        for (const one of served) assert.ok(one.status < 500 || designedServerAnswer(one, one.request), `the server answered ${one.status} to ${one.request.method} ${one.request.path}:\n${what}\n${one.text.slice(0, 600)}`);
        const refused = served.every((one) => isRefusal(one.status, one.location));
        await expectCalm(what, answer, journalBefore, route, refused);
      },
    ),
    {
      seed: FUZZ_SEED + 3,
      numRuns: RUNS.wire,
      // Found by the fuzzer: the second, broken request closes the connection while /metrics still runs, and the
      // client's address (gone with the socket) reached BlockList.check as undefined: a 500.
      examples: [
        [
          {
            method: 'GET',
            route: { method: 'GET', path: '/metrics' },
            params: ['x'],
            visitor: 'anonymous',
            pathBytes: Buffer.alloc(0),
            pathBytesAt: 'path',
            longPath: 0,
            cookieBytes: null,
            type: 'application/x-www-form-urlencoded',
            fields: [],
            bodyBytes: new Uint8Array(0),
            framing: 'chunked',
          },
        ],
      ],
    },
  );
  context.diagnostic(`${RUNS.wire} raw-socket cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${FUZZ_SEED + 3}); answers: ${statusReport()}`);
});

test('every command answers generated arguments with exit code 0, 1 or 2 and at most one line of error', async (context) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-fuzz-cli-'));
  const env = { LATCHKEY_DATABASE_URL: await freshDatabaseUrl(dir, 'cli.db'), LATCHKEY_DATA_DIR: dir, NODE_ENV: 'test', LATCHKEY_LOG_LEVEL: 'warn' };
  const cli = new CommandLine();
  try {
    const seeded = await cli.run(['users', 'add', '--email', 'cli-user@example.com', '--name', 'Cleo Line', '--password', GOOD_PASSWORD], env);
    assert.equal(seeded.code, 0, seeded.stderr);
    // The options every command knows, read from the usage text, so a new option is fuzzed too.
    const help = await cli.run(['help'], env);
    const options = [...new Set(help.stdout.match(/--[a-z][a-z-]*/g) ?? [])];
    assert.ok(options.includes('--email'), help.stdout);
    const commands = [
      [], ['serve'], ['migrate'], ['help'], ['--help'], ['-h'], ['users'], ['users', 'add'], ['users', 'list'], ['users', 'send-reset'],
      ['users', 'reset-link'], ['users', 'remove'], ['mail', 'test'], ['mail'], ['db', 'copy'], ['db'], ['apps', 'list'], ['keys', 'rotate'],
    ];
    const values = [
      'cli-user@example.com', 'CLI-USER@EXAMPLE.COM', 'nobody@example.com', GOOD_PASSWORD, 'short', 'Cleo Line', 'x',
      `sqlite:${path.join(dir, 'copy.db')}`, `sqlite:${path.join(dir, 'no', 'such', 'dir.db')}`, env.LATCHKEY_DATABASE_URL,
      `postgres://latchkey@127.0.0.1:${closedPort}/nothing`, 'postgres://', 'sqlite:', 'mysql://x/y',
    ];
    // Real command lines hold no NUL and no lone surrogate: the kernel and the UTF-8 decoder see to that.
    const argument = fieldValue(values).map((text) => Buffer.from(text.replace(/\0/g, ''), 'utf8').toString('utf8'));
    const token = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...options) },
      { weight: 4, arbitrary: argument },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...options), argument).map(([option, value]) => `${option}=${value}`) },
      { weight: 1, arbitrary: fc.constantFrom('--', '-', '-x', '--no-admin', '---', '--=', '-e', '-abc', '--help', '--admin=yes') },
    );
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fc.record({ command: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...commands) }, { weight: 1, arbitrary: fc.array(argument, { maxLength: 2 }) }), rest: fc.array(token, { maxLength: 7 }) }),
        async (c) => {
          const argv = [...c.command, ...c.rest];
          // `serve` with good arguments would start a server: here its settings are wrong, so it stops at once.
          const caseEnv = argv[0] === 'serve' ? { ...env, LATCHKEY_PORT: 'not-a-port' } : env;
          const result = await cli.run(argv, caseEnv);
          cases++;
          const describe = `latchkey ${JSON.stringify(argv)} → exit ${String(result.code)}\nstdout: ${result.stdout.slice(0, 500)}\nstderr: ${result.stderr.slice(0, 500)}`;
          assert.equal(result.thrown, null, `escaped main:\n${result.thrown}\n${describe}`);
          assert.deepEqual(result.rejections, [], `unhandled rejection:\n${describe}`);
          assert.ok([0, 1, 2].includes(Number(result.code)), `exit code:\n${describe}`);
          const leak = leakedInternal(result.stdout + result.stderr);
          assert.equal(leak, null, `internal detail (${leak}):\n${describe}`);
          const lines = result.stderr.split('\n').filter(Boolean);
          // Lines before the error may be progress or warnings; the error itself is one line (plus the help hint on wrong usage).
          for (const line of lines) assert.match(line, /^(?:latchkey: \S|Run "latchkey help"|Warning: |[a-z_]+: [\d,]+ \/ [\d,]+$)/, describe);
          if (result.code === 1) assert.match(lines.at(-1) ?? '', /^latchkey: \S/, describe);
          if (result.code === 2) {
            assert.match(lines.at(-2) ?? '', /^latchkey: \S/, describe);
            assert.equal(lines.at(-1), 'Run "latchkey help" for the list of commands.', describe);
          }
        },
      ),
      {
        seed: FUZZ_SEED + 4,
        numRuns: RUNS.cli,
        // Found by the fuzzer: a typed line break (or escape sequence) was echoed raw, splitting the error in two.
        examples: [[{ command: [], rest: ['\n'] }], [{ command: ['users', 'send-reset'], rest: ['\u001b[2J\nnobody@example.com'] }], [{ command: ['users', 'list'], rest: ['--search\r'] }]],
      },
    );
    context.diagnostic(`${RUNS.cli} command-line cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${FUZZ_SEED + 4})`);
  } finally {
    await cli.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the fuzzer ran its share of the 10,000 cases', (context) => {
  const expected = RUNS.get + RUNS.post + RUNS.cookie + RUNS.wire;
  context.diagnostic(`${cases} generated cases on ${onPostgres ? 'PostgreSQL' : 'SQLite'} (seed ${FUZZ_SEED}; FUZZ_SEED=<n> to change)`);
  assert.ok(cases >= expected, `${cases} cases`);
});
