// Outgoing mail servers: the environment's server and those kept on the Outgoing Mail Servers page, in priority order.
import type { Db, MailServersTable } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { newId, type SecretBox } from '../../infra/crypto.ts';
import { UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { normalizeEmail } from '../users/identity.ts';
import { SmtpTransport, type ConnectionSecurity, type DkimSettings, type MailTransport, type ServerEndpoint } from './transport.ts';

export type MailServer = MailServersTable;

export interface ServerInput {
  name: string;
  host: string;
  port: string;
  security: string;
  username: string;
  /** Empty keeps the stored password of an existing server. */
  password: string;
  from: string;
}

const SECURITY: readonly ConnectionSecurity[] = ['none', 'starttls', 'tls'];
const HOST = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$|^\d{1,3}(\.\d{1,3}){3}$|^\[?[0-9a-fA-F:]+\]?$/;

/** A server's form values, checked: every problem is named by its field. */
export function validateServer(input: ServerInput): { name: string; host: string; port: number; security: ConnectionSecurity; username: string | null; from: string | null } {
  const errors: Record<string, string> = {};
  const name = input.name.trim();
  if (name === '' || name.length > 100 || /[\p{Cc}]/u.test(name)) errors.name = 'Enter a name of at most 100 characters.';
  const host = input.host.trim();
  if (!HOST.test(host)) errors.host = 'Enter a host name like smtp.example.com, or an IP address.';
  const port = Number(input.port.trim());
  if (!/^\d{1,5}$/.test(input.port.trim()) || port < 1 || port > 65535) errors.port = 'Enter a port between 1 and 65535 (usually 587 for STARTTLS, 465 for SSL/TLS).';
  const security = input.security as ConnectionSecurity;
  if (!SECURITY.includes(security)) errors.security = 'Choose None, STARTTLS or SSL/TLS.';
  const username = input.username.trim();
  if (username.length > 200 || /[\r\n]/.test(username)) errors.username = 'The username is too long or has line breaks.';
  if (input.password.length > 500) errors.password = 'The password is too long.';
  let from: string | null = null;
  if (input.from.trim() !== '') {
    try {
      from = normalizeEmail(input.from);
    } catch (error) {
      errors.from = (error as UserError).message;
    }
  }
  const problems = Object.values(errors);
  if (problems.length > 0) throw new UserError(problems.join(' '), 400, errors);
  return { name, host, port, security, username: username || null, from };
}

/** Whether the form sends the password somewhere else, or less protected, than where it was saved for. */
function movedFrom(existing: MailServer, valid: { host: string; port: number; username: string | null; security: ConnectionSecurity }): boolean {
  return (
    existing.host.toLowerCase() !== valid.host.toLowerCase() ||
    existing.port !== valid.port ||
    existing.username !== valid.username ||
    existing.security !== valid.security
  );
}

export class MailServers {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    /** LATCHKEY_SMTP_URL: shown read-only, tried first. */
    readonly environmentUrl: string | null,
  ) {}

  list(): Promise<MailServer[]> {
    return this.db.selectFrom('mail_servers').selectAll().orderBy('priority').orderBy('name').execute();
  }

  async get(id: string): Promise<MailServer> {
    const server = await this.db.selectFrom('mail_servers').selectAll().where('id', '=', id.slice(0, 64)).executeTakeFirst();
    if (!server) throw new UserError('There is no such mail server.', 404);
    return server;
  }

  /** The endpoint the form describes; a blank password on a saved server means its stored one. */
  endpointFromForm(input: ServerInput, existing: MailServer | null): ServerEndpoint {
    const valid = validateServer(input);
    const password = input.password !== '' ? input.password : this.storedPasswordFor(valid, existing);
    return { kind: 'fields', host: valid.host, port: valid.port, security: valid.security, username: valid.username, password };
  }

  /**
   * The stored password goes only where it was meant to go: to the same host, port and username. Otherwise
   * editing a saved server to point at another machine would hand that machine the password.
   */
  private storedPasswordFor(valid: { host: string; port: number; username: string | null; security: ConnectionSecurity }, existing: MailServer | null): string | null {
    if (!existing?.password_sealed) return null;
    if (movedFrom(existing, valid)) {
      const message = 'Enter the password again: the SMTP Server, SMTP Port, Connection Security or Username changed.';
      throw new UserError(message, 400, { password: message });
    }
    return this.box.open(existing.password_sealed);
  }

  async save(id: string | null, input: ServerInput, actor: Actor): Promise<MailServer> {
    const valid = validateServer(input);
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      if (id === null) {
        const last = await trx.selectFrom('mail_servers').select((eb) => eb.fn.max('priority').as('p')).executeTakeFirst();
        const server: MailServer = {
          id: newId(),
          ...valid,
          from_address: valid.from,
          password_sealed: input.password ? this.box.seal(input.password) : null,
          priority: Number(last?.p ?? 0) + 1,
          created_at: now,
          updated_at: now,
        };
        delete (server as Partial<typeof valid> & MailServer).from;
        await trx.insertInto('mail_servers').values(server).execute();
        await recordAudit(trx, now, actor, { type: 'mail_server.created', detail: { server: server.name, host: server.host, port: server.port } });
        return server;
      }
      const existing = await trx.selectFrom('mail_servers').selectAll().where('id', '=', id).executeTakeFirst();
      if (!existing) throw new UserError('There is no such mail server.', 404);
      // The stored password stays only while it still goes to the same place; a moved server drops it.
      const moved = movedFrom(existing, valid);
      if (!input.password && moved && existing.password_sealed !== null && valid.username !== null) this.storedPasswordFor(valid, existing);
      const changes = {
        name: valid.name,
        host: valid.host,
        port: valid.port,
        security: valid.security,
        username: valid.username,
        from_address: valid.from,
        updated_at: now,
        password_sealed: input.password ? this.box.seal(input.password) : moved ? null : existing.password_sealed,
      };
      await trx.updateTable('mail_servers').set(changes).where('id', '=', id).execute();
      await recordAudit(trx, now, actor, {
        type: 'mail_server.updated',
        detail: { server: valid.name, host: valid.host, port: valid.port, passwordChanged: Boolean(input.password) },
      });
      return { ...existing, ...changes };
    });
  }

  async remove(id: string, actor: Actor): Promise<void> {
    const server = await this.get(id);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('mail_servers').where('id', '=', server.id).execute();
      await recordAudit(trx, this.clock.now(), actor, { type: 'mail_server.deleted', detail: { server: server.name, host: server.host } });
    });
  }

  /** Moves a server one place up or down the priority order. */
  async move(id: string, direction: 'up' | 'down', actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const servers = await trx.selectFrom('mail_servers').selectAll().orderBy('priority').orderBy('name').execute();
      const index = servers.findIndex((server) => server.id === id);
      if (index < 0) throw new UserError('There is no such mail server.', 404);
      const other = direction === 'up' ? index - 1 : index + 1;
      if (other < 0 || other >= servers.length) return;
      [servers[index], servers[other]] = [servers[other]!, servers[index]!];
      const now = this.clock.now();
      for (const [position, server] of servers.entries()) {
        await trx.updateTable('mail_servers').set({ priority: position + 1, updated_at: now }).where('id', '=', server.id).execute();
      }
      await recordAudit(trx, now, actor, { type: 'mail_server.updated', detail: { server: servers[other]!.name, moved: direction } });
    });
  }

  /** Records a "Test Connection" (no recipient) or a "Send Test Email" and how it went. */
  async recordTest(recipient: string | null, server: string, result: { ok: boolean; message: string }, actor: Actor): Promise<void> {
    await recordAudit(this.db, this.clock.now(), actor, {
      type: recipient === null ? 'mail_server.tested' : 'mail.test_sent',
      email: recipient,
      detail: { server, ok: result.ok, result: result.message },
    });
  }

  /** Every configured server in the order the courier tries them: the environment's first. */
  async endpoints(): Promise<Array<{ label: string; endpoint: ServerEndpoint; from: string | null }>> {
    const list: Array<{ label: string; endpoint: ServerEndpoint; from: string | null }> = [];
    if (this.environmentUrl) list.push({ label: 'environment', endpoint: { kind: 'url', url: this.environmentUrl }, from: null });
    for (const server of await this.list()) list.push({ label: server.name, endpoint: this.endpointOf(server), from: server.from_address });
    return list;
  }

  endpointOf(server: MailServer): ServerEndpoint {
    return {
      kind: 'fields',
      host: server.host,
      port: server.port,
      security: server.security,
      username: server.username,
      password: server.password_sealed ? this.box.open(server.password_sealed) : null,
    };
  }
}

/**
 * The transports the courier tries, in order: the environment's server first, then the page's servers by
 * priority. Pooled connections are kept per server and rebuilt when the server's settings change.
 */
export class MailRouter {
  private readonly pool = new Map<string, { version: number; transport: MailTransport }>();
  private environment: MailTransport | null = null;

  constructor(
    private readonly servers: MailServers,
    private readonly dkim: DkimSettings | null,
  ) {}

  async transports(): Promise<MailTransport[]> {
    const list: MailTransport[] = [];
    if (this.servers.environmentUrl) {
      this.environment ??= new SmtpTransport({ kind: 'url', url: this.servers.environmentUrl }, null, this.dkim, 'environment');
      list.push(this.environment);
    }
    const saved = await this.servers.list();
    const seen = new Set<string>();
    for (const server of saved) {
      seen.add(server.id);
      const cached = this.pool.get(server.id);
      if (cached && cached.version === server.updated_at) {
        list.push(cached.transport);
        continue;
      }
      cached?.transport.close();
      const transport = new SmtpTransport(this.servers.endpointOf(server), server.from_address, this.dkim, server.name);
      this.pool.set(server.id, { version: server.updated_at, transport });
      list.push(transport);
    }
    for (const [id, cached] of this.pool) {
      if (!seen.has(id)) {
        cached.transport.close();
        this.pool.delete(id);
      }
    }
    return list;
  }

  close(): void {
    this.environment?.close();
    this.environment = null;
    for (const cached of this.pool.values()) cached.transport.close();
    this.pool.clear();
  }
}

