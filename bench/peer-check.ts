// Smoke test for bench/peer.ts: proves the Better Auth peer installs, starts, really sends reset mails under load, and stops cleanly.
import { benchPeerLogin, benchPeerResetRequests, PEER_PASSWORD, seedPeerUsers, startPeer, type BenchResult } from './peer.js';

const opts = { connections: 10, durationSeconds: 5 };

async function outbox(url: string): Promise<{ to: string; token: string }[]> {
  const res = await fetch(`${url}/__outbox`);
  return (await res.json()) as { to: string; token: string }[];
}

function show(name: string, r: BenchResult): void {
  console.log(`${name.padEnd(16)} ${r.requestsPerSecond.toFixed(1).padStart(8)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  non2xx ${r.non2xx}  errors ${r.errors}  completed ${r.completed}`);
}

const failures: string[] = [];
const peer = await startPeer();
try {
  console.log(`peer up at ${peer.url}`);
  const t = performance.now();
  const emails = await seedPeerUsers(peer.url, 200);
  console.log(`seeded ${emails.length} users in ${Math.round(performance.now() - t)} ms`);

  const before = (await outbox(peer.url)).length;
  const reset = await benchPeerResetRequests(peer.url, emails, opts);
  show('reset-request', reset);
  // In-flight requests cut off when autocannon stops still reach the server, so allow up to one extra mail per connection.
  const mails = (await outbox(peer.url)).slice(before);
  const known = new Set(emails);
  console.log(`outbox: ${mails.length} reset mails captured during the bench (${new Set(mails.map((m) => m.to)).size} distinct recipients)`);
  if (reset.non2xx !== 0 || reset.errors !== 0) failures.push('reset requests had non-2xx responses or errors');
  if (mails.length < reset.completed || mails.length > reset.completed + opts.connections) failures.push(`expected ~${reset.completed} mails, got ${mails.length}`);
  if (!mails.every((m) => known.has(m.to) && m.token.length > 0)) failures.push('a captured mail was not a reset for a seeded user');

  const login = await benchPeerLogin(peer.url, emails, PEER_PASSWORD, opts);
  show('sign-in', login);
  if (login.non2xx !== 0 || login.errors !== 0) failures.push('sign-ins had non-2xx responses or errors');
} finally {
  await peer.stop();
}
if (failures.length) {
  console.error(`FAIL: ${failures.join('; ')}`);
  process.exitCode = 1;
} else {
  console.log('ok');
}
