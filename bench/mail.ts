// Mail throughput: 2,000 reset requests against the real server, delivered to a local SMTP sink; mails per second
// and the time from each request to the sink's acceptance of its mail.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { seed, startInstances, type DatabaseTarget } from './latchkey.ts';
import { freePort } from '../test/support/net.ts';
import { keepProfile, type KeptProfile } from './scenarios.ts';

export interface MailFigures {
  requests: number;
  delivered: number;
  duplicates: number;
  mailsPerSecond: number;
  /** From sending the HTTP request to the SMTP sink accepting the mail, in ms. */
  acceptedP50: number;
  acceptedP99: number;
  /** The HTTP answer alone, in ms. */
  responseP50: number;
  responseP99: number;
  seconds: number;
  /** With --profile: the CPU profile of the (first) server while it answered and delivered. */
  profile: KeptProfile | null;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** A sink that accepts every mail and notes when each recipient's mail was accepted. */
async function startSink(): Promise<{ port: number; accepted: Map<string, number[]>; close(): Promise<void> }> {
  const accepted = new Map<string, number[]>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        const now = performance.now();
        for (const rcpt of session.envelope.rcptTo) accepted.set(rcpt.address, [...(accepted.get(rcpt.address) ?? []), now]);
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, accepted, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/**
 * On several instances (one PostgreSQL database, the mail worker on in each), connection i sends its requests to
 * instance i mod n, and any instance's worker may send any mail.
 */
export async function benchMail(options: { requests: number; connections: number; target: DatabaseTarget; profile?: boolean; log: (line: string) => void }): Promise<MailFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-bench-mail-'));
  const sink = await startSink();
  const ports = await Promise.all(Array.from({ length: options.target.instances }, () => freePort()));
  try {
    const { groups } = await seed(dir, ports[0]!, { m: { count: options.requests, tokens: false } }, options.target.databaseUrl);
    const emails = groups.m!.emails;
    const profileDir = options.profile ? path.join(dir, 'profile') : undefined;
    const servers = await startInstances(dir, ports, options.target, { cpuProfileDir: profileDir, env: { LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${sink.port}` } });
    const stopAll = () => Promise.all(servers.map((server) => server.stop()));
    try {
      const page = await fetch(`${servers[0]!.url}/reset-password`);
      const cookie = page.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      const started = new Map<string, number>();
      const responses: number[] = [];
      let next = 0;
      options.log(`mail on ${options.target.label}: ${options.requests} reset requests at ${options.connections} connections, delivered to an SMTP sink…`);
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: options.connections }, async (_, connection) => {
          const server = servers[connection % servers.length]!;
          while (next < emails.length) {
            const email = emails[next++]!;
            const begin = performance.now();
            started.set(email, begin);
            const response = await fetch(`${server.url}/reset-password`, {
              method: 'POST',
              headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ _csrf: csrf, email }),
            });
            await response.arrayBuffer();
            if (response.status !== 200) throw new Error(`reset request for ${email} answered ${response.status}`);
            responses.push(performance.now() - begin);
          }
        }),
      );
      const deadline = Date.now() + 120_000;
      while (emails.some((email) => !sink.accepted.has(email)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const latencies = emails.filter((email) => sink.accepted.has(email)).map((email) => sink.accepted.get(email)![0]! - started.get(email)!);
      const lastAccepted = Math.max(...[...sink.accepted.values()].map((times) => times[0]!));
      latencies.sort((a, b) => a - b);
      responses.sort((a, b) => a - b);
      const seconds = (lastAccepted - t0) / 1000;
      await stopAll();
      return {
        requests: emails.length,
        delivered: latencies.length,
        duplicates: [...sink.accepted.values()].reduce((sum, times) => sum + times.length - 1, 0),
        mailsPerSecond: latencies.length / seconds,
        acceptedP50: percentile(latencies, 50),
        acceptedP99: percentile(latencies, 99),
        responseP50: percentile(responses, 50),
        responseP99: percentile(responses, 99),
        seconds,
        profile: profileDir ? await keepProfile(profileDir, `latchkey-mail-${options.target.name}`, `${options.target.label} mail`) : null,
      };
    } finally {
      await stopAll();
    }
  } finally {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  }
}
