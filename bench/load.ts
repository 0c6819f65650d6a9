// One load run with autocannon against a URL: per-request setup, a check of every response, and the figures we report.
import { createRequire } from 'node:module';

// autocannon ships no type declarations; only the slice used here is described (as in bench/peer.ts).
interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (req: CannonRequest, context: Record<string, unknown>) => CannonRequest | null | undefined;
  onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void;
}
interface CannonHistogram { average: number; mean: number; p50: number; p90: number; p99: number; max: number; total: number }
interface CannonResult {
  requests: CannonHistogram;
  latency: CannonHistogram;
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
type CannonRun = Promise<CannonResult> & { stop(): void };
type Autocannon = (opts: {
  url: string | string[];
  connections: number;
  duration?: number;
  amount?: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: CannonRequest[];
  timeout?: number;
}) => CannonRun;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  /** One URL, or several instances of one service: autocannon gives connection i to URL i mod n. */
  url: string | string[];
  connections: number;
  durationSeconds: number;
  /** Builds the i-th request (0, 1, 2, …); called once per request actually sent. */
  request: (i: number) => LoadRequest;
  /** Whether a response is the one the scenario expects (status, and Location for redirects). */
  expect: (status: number, location: string | undefined, body: string) => boolean;
  /** At most this many requests (e.g. single-use tokens); the run still ends after durationSeconds. */
  maxRequests?: number;
  /**
   * Told the time of each answer, in ms from the moment its request was built (just before it is written) to its
   * last byte, with the request's index. Not for a connection's first request: that one is built before the
   * connection opens, so its time would include the connect.
   */
  onLatency?: (i: number, ms: number) => void;
}

export interface LoadResult {
  /** autocannon's mean of per-second request counts, the same figure bench/peer.ts reports. */
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Responses received. */
  completed: number;
  /** Responses that matched `expect`. */
  ok: number;
  /** Responses that did not, by status code. */
  unexpected: Record<string, number>;
  /** Every response by status code, as autocannon counted them. */
  statusCodes: Record<string, number>;
  /** Socket errors and timeouts (no response at all). */
  errors: number;
  timeouts: number;
  /** Requests built (sent or about to be sent); with maxRequests, tells whether the supply ran out. */
  built: number;
  seconds: number;
  firstUnexpected: { status: number; location?: string; body: string } | null;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  let built = 0;
  let ok = 0;
  const unexpected: Record<string, number> = {};
  let firstUnexpected: LoadResult['firstUnexpected'] = null;
  const cannonRequest: CannonRequest = {
    // autocannon hands each request's context to its onResponse (one connection, one request in flight).
    setupRequest: (req, context) => {
      const index = built++;
      const next = opts.request(index);
      context.index = index;
      context.sentAt = performance.now();
      return { ...req, method: next.method, path: next.path, headers: { ...req.headers, ...next.headers }, body: next.body ?? '' };
    },
    onResponse: (status, body, context, headers) => {
      if (opts.onLatency && typeof context.index === 'number' && context.index >= opts.connections) {
        opts.onLatency(context.index, performance.now() - (context.sentAt as number));
      }
      const raw = headers.location ?? headers.Location;
      const location = Array.isArray(raw) ? raw[0] : raw;
      if (opts.expect(status, location, body)) {
        ok++;
        return;
      }
      unexpected[status] = (unexpected[status] ?? 0) + 1;
      firstUnexpected ??= { status, location, body: body.slice(0, 400) };
    },
  };
  const amount = opts.maxRequests;
  const run = autocannon({
    url: opts.url,
    connections: amount === undefined ? opts.connections : Math.max(1, Math.min(opts.connections, amount)),
    ...(amount === undefined ? { duration: opts.durationSeconds } : { amount }),
    requests: [cannonRequest],
  });
  // With `amount` autocannon ignores the duration: bound the run ourselves.
  const timer = amount === undefined ? null : setTimeout(() => run.stop(), opts.durationSeconds * 1000);
  const result = await run;
  if (timer) clearTimeout(timer);

  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    completed: result.requests.total,
    ok,
    unexpected,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    built,
    seconds: result.duration,
    firstUnexpected,
  };
}
