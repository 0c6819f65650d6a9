// One attempt at one delivery: the body signed per Standard Webhooks, posted over HTTP to checked addresses only.
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { Webhook as WebhookSigner } from 'standardwebhooks';
import type { Agent } from 'undici';
import { checkedLookup, literalAddress, privateAddressKind, RefusedAddress } from './addresses.ts';

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface SenderOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

/** The Standard Webhooks headers for a body: its message id, the time of sending and the signature over both. */
export function signedHeaders(secret: string, messageId: string, at: number, body: string): Record<string, string> {
  const { Webhook } = lazy('standardwebhooks') as { Webhook: typeof WebhookSigner };
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(at / 1000)),
    'webhook-signature': new Webhook(secret).sign(messageId, new Date(at), body),
  };
}

// The HTTP client and the signer load with the first delivery: an installation without webhooks never pays for them.
const lazy = createRequire(import.meta.url);
type Undici = typeof import('undici');

export class WebhookSender {
  private agentOrNull: Agent | null = null;

  constructor(private readonly options: SenderOptions) {}

  private get agent(): Agent {
    // Every connection resolves its host through the check, and connects to the addresses that passed it.
    this.agentOrNull ??= new (lazy('undici') as Undici).Agent({
      connect: { lookup: checkedLookup(this.options.allowPrivate), timeout: this.options.timeoutMs },
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
      keepAliveTimeout: 4_000,
    });
    return this.agentOrNull;
  }

  /** Posts once; redirects are not followed (a 3xx is a failed attempt like any non-2xx answer). */
  async send(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return { ok: false, statusCode: null, error: 'The URL is not valid.', durationMs: 0 };
    }
    // A host written as an address is never looked up, so the connection's check never sees it: check it here.
    const literal = literalAddress(target.hostname);
    const kind = literal === null || this.options.allowPrivate ? null : privateAddressKind(literal);
    if (kind) return { ok: false, statusCode: null, error: `Refused: ${literal} is ${kind} (LATCHKEY_WEBHOOK_ALLOW_PRIVATE is off).`, durationMs: 0 };
    try {
      const response = await (lazy('undici') as Undici).request(target, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'user-agent': 'Latchkey-Webhooks/1', ...headers },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // Only the status matters; the answer's body is read a little and thrown away.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      const error = ok ? null : response.statusCode >= 300 && response.statusCode < 400 ? `Answered ${response.statusCode}: redirects are not followed.` : `Answered ${response.statusCode}.`;
      return { ok, statusCode: response.statusCode, error, durationMs: elapsed() };
    } catch (error) {
      return { ok: false, statusCode: null, error: describe(error, this.options.timeoutMs), durationMs: elapsed() };
    }
  }

  async close(): Promise<void> {
    await this.agentOrNull?.close();
  }
}

/** A network failure in one line for the console: what went wrong, never the request's headers. */
function describe(error: unknown, timeoutMs: number): string {
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof RefusedAddress) return `Refused: ${cause.message}.`;
  }
  const e = error as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || /timeout/i.test(e.code ?? '')) return `No answer within ${timeoutMs / 1000} s.`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = e.code && !e.code.startsWith('UND_ERR') ? e.code : (cause?.code ?? e.code ?? 'error');
  return `${code}: ${(cause?.message ?? e.message ?? String(error)).split('\n')[0]!.slice(0, 300)}`;
}
