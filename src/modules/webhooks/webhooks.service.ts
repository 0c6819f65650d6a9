// Webhooks: administrators' subscriptions — their rules, signing secrets and audit — and what the console shows of their deliveries.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { randomToken, type SecretBox } from '../../infra/crypto.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { lastAuditEventId } from '../audit/audit.repo.ts';
import { literalAddress, privateAddressKind } from './addresses.ts';
import { WEBHOOK_EVENTS, type WebhookEvent } from './events.ts';
import {
  countDeliveriesByStatus,
  deleteSubscriptionRow,
  findSubscriptionRow,
  insertSubscriptionRow,
  listSubscriptionRows,
  recentDeliveries,
  updateSubscriptionRow,
  type AttemptRow,
  type DeliveryRow,
  type SubscriptionRow,
} from './webhooks.repo.ts';

export interface Subscription {
  id: string;
  url: string;
  description: string;
  events: WebhookEvent[];
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  secretRotatedAt: number | null;
}

export interface SubscriptionInput {
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
}

/** A delivery as the subscription's page shows it, with every attempt made. */
export type DeliveryView = DeliveryRow & { attemptRows: AttemptRow[] };

export interface WebhookSettings {
  allowPrivate: boolean;
  allowHttp: boolean;
}

const ID = /^wh_[A-Za-z0-9_-]{1,64}$/;
const MAX_URL_LENGTH = 2000;
const notFound = () => new NotFoundError('There is no such webhook.');

/** A new signing secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Why a URL cannot receive webhooks, or null when it can. */
export function webhookUrlProblem(raw: string, settings: WebhookSettings): string | null {
  if (raw === '') return 'Enter the URL that receives the events, like https://hooks.example.com/latchkey.';
  if (raw.length > MAX_URL_LENGTH) return `A URL may have at most ${MAX_URL_LENGTH} characters.`;
  if (/[\s\p{Cc}]/u.test(raw)) return 'The URL has spaces or invisible characters in it.';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'This is not a full URL; write it like https://hooks.example.com/latchkey.';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && settings.allowHttp)) {
    return settings.allowHttp ? 'The URL must start with https:// or http://.' : 'The URL must start with https:// (plain http:// only when LATCHKEY_WEBHOOK_ALLOW_HTTP is on).';
  }
  if (url.username || url.password) return 'The URL has a user name or password in it; leave them out (the signature proves the sender).';
  if (raw.includes('#')) return 'The URL has a fragment (#…); leave it out.';
  const address = literalAddress(url.hostname);
  const kind = address === null ? null : privateAddressKind(address);
  if (kind && !settings.allowPrivate) return `${address} is ${kind}: webhooks go to public addresses only (unless LATCHKEY_WEBHOOK_ALLOW_PRIVATE is on).`;
  return null;
}

/** A subscription's form, checked: every problem is named by its field. */
export function validateSubscription(input: SubscriptionInput, settings: WebhookSettings): SubscriptionInput & { events: WebhookEvent[] } {
  const errors: Record<string, string> = {};
  const url = input.url.trim();
  const problem = webhookUrlProblem(url, settings);
  if (problem) errors.url = problem;
  const description = input.description.trim();
  if (description.length > 200 || /[\p{Cc}]/u.test(description)) errors.description = 'Enter a description of at most 200 characters, on one line.';
  const unknown = input.events.filter((event) => !(WEBHOOK_EVENTS as readonly string[]).includes(event));
  if (unknown.length > 0) errors.events = `Unknown event “${unknown[0]!.slice(0, 50)}”: choose from ${WEBHOOK_EVENTS.join(', ')}.`;
  else if (input.events.length === 0) errors.events = 'Choose at least one event.';
  const problems = Object.values(errors);
  if (problems.length > 0) throw new UserError(problems.join(' '), 400, errors);
  return { url, description, events: WEBHOOK_EVENTS.filter((event) => input.events.includes(event)), enabled: input.enabled };
}

function subscriptionOf(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as WebhookEvent[],
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    secretRotatedAt: row.secret_rotated_at,
  };
}

/** What the audit log keeps of a subscription (never its secret). */
function auditDetail(subscription: Subscription): Record<string, unknown> {
  return { webhook: subscription.id, url: subscription.url, description: subscription.description, events: subscription.events, enabled: subscription.enabled };
}

export class Webhooks {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Seals signing secrets with the installation secret; deliveries need them back to sign. */
    private readonly box: SecretBox,
    private readonly settings: WebhookSettings,
  ) {}

  async list(): Promise<Array<Subscription & { failed: number; waiting: number }>> {
    const counts = await countDeliveriesByStatus(this.db);
    const countOf = (id: string, statuses: string[]) =>
      counts.filter((row) => row.subscription_id === id && statuses.includes(row.status)).reduce((sum, row) => sum + row.count, 0);
    return (await listSubscriptionRows(this.db)).map((row) => ({
      ...subscriptionOf(row),
      failed: countOf(row.id, ['failed']),
      waiting: countOf(row.id, ['pending', 'retrying', 'sending']),
    }));
  }

  async get(id: string): Promise<Subscription | undefined> {
    if (!ID.test(id)) return undefined;
    const row = await findSubscriptionRow(this.db, id);
    return row ? subscriptionOf(row) : undefined;
  }

  /** The newest deliveries of a subscription, each with its attempts. */
  deliveries(id: string, limit = 50): Promise<DeliveryView[]> {
    return recentDeliveries(this.db, id, limit);
  }

  /** Subscribes a URL; the signing secret is returned here once and never again. */
  async create(input: SubscriptionInput, actor: Actor): Promise<{ subscription: Subscription; secret: string }> {
    const valid = validateSubscription(input, this.settings);
    const now = this.clock.now();
    const secret = newSigningSecret();
    return this.db.transaction().execute(async (trx) => {
      const row: SubscriptionRow = {
        id: `wh_${randomToken(12)}`,
        url: valid.url,
        description: valid.description,
        events: JSON.stringify(valid.events),
        enabled: valid.enabled ? 1 : 0,
        secret_sealed: this.box.seal(secret),
        after_event_id: await lastAuditEventId(trx),
        created_at: now,
        updated_at: now,
        secret_rotated_at: null,
      };
      await insertSubscriptionRow(trx, row);
      const subscription = subscriptionOf(row);
      await recordAudit(trx, now, actor, { type: 'webhook.created', detail: auditDetail(subscription) });
      return { subscription, secret };
    });
  }

  async update(id: string, input: SubscriptionInput, actor: Actor): Promise<Subscription> {
    const valid = validateSubscription(input, this.settings);
    const now = this.clock.now();
    if (!ID.test(id)) throw notFound();
    return this.db.transaction().execute(async (trx) => {
      const changed = await updateSubscriptionRow(trx, id, {
        url: valid.url,
        description: valid.description,
        events: JSON.stringify(valid.events),
        enabled: valid.enabled ? 1 : 0,
        updated_at: now,
      });
      if (!changed) throw notFound();
      const subscription = subscriptionOf((await findSubscriptionRow(trx, id))!);
      await recordAudit(trx, now, actor, { type: 'webhook.updated', detail: auditDetail(subscription) });
      return subscription;
    });
  }

  /** A new signing secret, returned once; deliveries not yet made are signed with it. */
  async rotateSecret(id: string, actor: Actor): Promise<string> {
    if (!ID.test(id)) throw notFound();
    const now = this.clock.now();
    const secret = newSigningSecret();
    await this.db.transaction().execute(async (trx) => {
      if (!(await updateSubscriptionRow(trx, id, { secret_sealed: this.box.seal(secret), secret_rotated_at: now, updated_at: now }))) throw notFound();
      const subscription = subscriptionOf((await findSubscriptionRow(trx, id))!);
      await recordAudit(trx, now, actor, { type: 'webhook.secret_rotated', detail: { webhook: subscription.id, url: subscription.url } });
    });
    return secret;
  }

  /** Deletes a subscription with its deliveries and their attempts. */
  async remove(id: string, actor: Actor): Promise<void> {
    if (!ID.test(id)) throw notFound();
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      const row = await findSubscriptionRow(trx, id);
      if (!row || !(await deleteSubscriptionRow(trx, id))) throw notFound();
      await recordAudit(trx, now, actor, { type: 'webhook.deleted', detail: auditDetail(subscriptionOf(row)) });
    });
  }
}
