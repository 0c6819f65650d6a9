// Applications: the relying parties that sign people in with Latchkey over OpenID Connect — their rules, secrets and audit.
import type { Db } from '../../infra/db.ts';
import type { Clock } from '../../infra/clock.ts';
import { forUpdate } from '../../infra/db.ts';
import { randomToken, type SecretBox } from '../../infra/crypto.ts';
import { NotFoundError, UserError } from '../../infra/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { endApplicationForEveryone, grantsOfUser, revokeApplicationForUser } from '../oidc/grants.service.ts';
import {
  deleteApplicationRow,
  findApplicationRow,
  insertApplicationRow,
  listApplicationRows,
  updateApplicationRow,
  updateApplicationSecret,
  type ApplicationRow,
} from './applications.repo.ts';

export type ApplicationKind = 'confidential' | 'public';

export interface Application {
  id: string;
  name: string;
  kind: ApplicationKind;
  firstParty: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scopes: string[];
  createdAt: number;
  updatedAt: number;
  secretRotatedAt: number | null;
}

/** An application a user is signed in to, as /account lists it. */
export interface SignedInApplication {
  clientId: string;
  name: string;
  /** Epoch milliseconds of the first grant. */
  since: number;
  scopes: string[];
}

export interface ApplicationInput {
  name: string;
  kind: ApplicationKind;
  firstParty: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scopes: string[];
}

/** The scopes an application may be allowed, in the order they are shown; openid is always granted. */
export const APPLICATION_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'latchkey_admin'] as const;
export type ApplicationScope = (typeof APPLICATION_SCOPES)[number];

/** Plain http is only for an application running on the administrator's own machine. */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
const MAX_URIS = 20;
const MAX_URI_LENGTH = 2000;
const CLIENT_ID = /^app_[A-Za-z0-9_-]{1,64}$/;

const notFound = () => new NotFoundError('There is no such application.');

/** Why a redirect URI cannot be registered, or null when it can. */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > MAX_URI_LENGTH) return `A redirect URI may have at most ${MAX_URI_LENGTH} characters.`;
  if (/[\s\p{Cc}]/u.test(uri)) return `“${uri}” has spaces or invisible characters in it.`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `“${uri}” is not a full URL; write it like https://app.example.com/callback.`;
  }
  if (uri.includes('#')) return `“${uri}” has a fragment (#…); leave it out.`;
  if (url.username || url.password) return `“${uri}” has a user name or password in it; leave them out.`;
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.includes(url.hostname)) return null;
  if (url.protocol === 'http:') return `“${uri}” must start with https:// (plain http:// only for localhost, 127.0.0.1 or [::1]).`;
  return `“${uri}” must start with https:// (or http:// for localhost, 127.0.0.1 or [::1]).`;
}

/** A list of URIs, trimmed, blank lines dropped, duplicates removed; or the first problem with it. */
function checkUris(uris: string[], label: string): { uris: string[]; problem: string | null } {
  const list = [...new Set(uris.map((uri) => uri.trim()).filter((uri) => uri !== ''))];
  if (list.length > MAX_URIS) return { uris: list, problem: `${label}: at most ${MAX_URIS}.` };
  for (const uri of list) {
    const problem = redirectUriProblem(uri);
    if (problem) return { uris: list, problem: `${label}: ${problem}` };
  }
  return { uris: list, problem: null };
}

/** An application's form values, checked: every problem is named by its field. */
export function validateApplication(input: ApplicationInput): ApplicationInput {
  const errors: Record<string, string> = {};
  const name = input.name.trim();
  if (name === '' || name.length > 100 || /[\p{Cc}]/u.test(name)) errors.name = 'Enter a name of at most 100 characters.';
  if (input.kind !== 'confidential' && input.kind !== 'public') errors.kind = 'Choose Confidential or Public.';
  const redirect = checkUris(input.redirectUris, 'Redirect URIs');
  if (redirect.problem) errors.redirectUris = redirect.problem;
  else if (redirect.uris.length === 0) errors.redirectUris = 'Enter at least one redirect URI, like https://app.example.com/callback.';
  const logout = checkUris(input.postLogoutRedirectUris, 'Post-logout redirect URIs');
  if (logout.problem) errors.postLogoutRedirectUris = logout.problem;
  const unknown = input.scopes.filter((scope) => !(APPLICATION_SCOPES as readonly string[]).includes(scope));
  if (unknown.length > 0) errors.scopes = `Unknown scope “${unknown[0]!.slice(0, 50)}”: choose from ${APPLICATION_SCOPES.join(', ')}.`;
  const problems = Object.values(errors);
  if (problems.length > 0) throw new UserError(problems.join(' '), 400, errors);
  return {
    name,
    kind: input.kind,
    firstParty: input.firstParty === true,
    redirectUris: redirect.uris,
    postLogoutRedirectUris: logout.uris,
    // openid is always allowed; the rest in the order they are shown.
    scopes: APPLICATION_SCOPES.filter((scope) => scope === 'openid' || input.scopes.includes(scope)),
  };
}

function applicationOf(row: ApplicationRow): Application {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    firstParty: row.first_party === 1,
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    postLogoutRedirectUris: JSON.parse(row.post_logout_redirect_uris) as string[],
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    secretRotatedAt: row.secret_rotated_at,
  };
}

/** What the audit log keeps of an application's settings (never its secret). */
function auditDetail(application: Application): Record<string, unknown> {
  return {
    application: application.name,
    clientId: application.id,
    kind: application.kind,
    firstParty: application.firstParty,
    redirectUris: application.redirectUris,
    postLogoutRedirectUris: application.postLogoutRedirectUris,
    scopes: application.scopes,
  };
}

export class Applications {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Seals client secrets with the installation secret; the provider needs them back to compare. */
    private readonly box: SecretBox,
  ) {}

  async list(): Promise<Application[]> {
    return (await listApplicationRows(this.db)).map(applicationOf);
  }

  async get(id: string): Promise<Application | undefined> {
    // Anything shaped otherwise (from a URL or a token request) names no application and never reaches SQL.
    if (!CLIENT_ID.test(id)) return undefined;
    const row = await findApplicationRow(this.db, id);
    return row ? applicationOf(row) : undefined;
  }

  /** Registers an application; a confidential one gets a client secret, returned here once and never again. */
  async create(input: ApplicationInput, actor: Actor): Promise<{ application: Application; secret: string | null }> {
    const valid = validateApplication(input);
    const now = this.clock.now();
    const secret = valid.kind === 'confidential' ? randomToken(32) : null;
    const row: ApplicationRow = {
      id: `app_${randomToken(16)}`,
      name: valid.name,
      kind: valid.kind,
      first_party: valid.firstParty ? 1 : 0,
      redirect_uris: JSON.stringify(valid.redirectUris),
      post_logout_redirect_uris: JSON.stringify(valid.postLogoutRedirectUris),
      scopes: JSON.stringify(valid.scopes),
      secret_sealed: secret === null ? null : this.box.seal(secret),
      created_at: now,
      updated_at: now,
      secret_rotated_at: null,
    };
    const application = applicationOf(row);
    await this.db.transaction().execute(async (trx) => {
      await insertApplicationRow(trx, row);
      await recordAudit(trx, now, actor, { type: 'application.created', detail: auditDetail(application) });
    });
    return { application, secret };
  }

  /** Changes an application's settings. Its type stays what it was registered as: its secret (or lack of one) goes with it. */
  async update(id: string, input: ApplicationInput, actor: Actor): Promise<Application> {
    const valid = validateApplication(input);
    const now = this.clock.now();
    if (!CLIENT_ID.test(id)) throw notFound();
    return this.db.transaction().execute(async (trx) => {
      const existing = await forUpdate(trx, trx.selectFrom('applications').selectAll().where('id', '=', id)).executeTakeFirst();
      if (!existing) throw notFound();
      if (valid.kind !== existing.kind) {
        const message = 'An application’s type cannot change: register a new application instead, and remove this one.';
        throw new UserError(message, 400, { kind: message });
      }
      const details = {
        name: valid.name,
        first_party: valid.firstParty ? 1 : 0,
        redirect_uris: JSON.stringify(valid.redirectUris),
        post_logout_redirect_uris: JSON.stringify(valid.postLogoutRedirectUris),
        scopes: JSON.stringify(valid.scopes),
        updated_at: now,
      };
      await updateApplicationRow(trx, id, details);
      const before = applicationOf(existing);
      const application = applicationOf({ ...existing, ...details });
      const changed = (['name', 'firstParty', 'redirectUris', 'postLogoutRedirectUris', 'scopes'] as const).filter(
        (field) => JSON.stringify(before[field]) !== JSON.stringify(application[field]),
      );
      await recordAudit(trx, now, actor, { type: 'application.updated', detail: { ...auditDetail(application), changed } });
      return application;
    });
  }

  /**
   * Removes an application: from now on the provider knows no such client, and every grant, code and token it
   * held is gone with it, in the same transaction.
   */
  async remove(id: string, actor: Actor): Promise<void> {
    if (!CLIENT_ID.test(id)) throw notFound();
    await this.db.transaction().execute(async (trx) => {
      const existing = await findApplicationRow(trx, id);
      if (!existing || !(await deleteApplicationRow(trx, id))) throw notFound();
      const now = this.clock.now();
      await recordAudit(trx, now, actor, { type: 'application.removed', detail: { application: existing.name, clientId: id } });
      await endApplicationForEveryone(trx, now, actor, { clientId: id, name: existing.name });
    });
  }

  /** The registered applications a user is signed in to (has a grant with): since when, and the scopes granted. */
  async signedInFor(userId: string): Promise<SignedInApplication[]> {
    const grants = await grantsOfUser(this.db, userId, this.clock.now());
    const signedIn: SignedInApplication[] = [];
    for (const grant of grants) {
      // A grant of an application removed before removal ended its grants opens nothing: not listed.
      const application = await this.get(grant.clientId);
      if (application) signedIn.push({ ...grant, name: application.name });
    }
    return signedIn;
  }

  /**
   * "Revoke" on /account: the application can no longer use this user's account — the user's grants, codes and
   * tokens for it go in one transaction, audited. Returns the application, or undefined if it is not registered.
   */
  async revokeForUser(user: { id: string; email: string }, clientId: string, actor: Actor): Promise<Application | undefined> {
    const application = await this.get(clientId);
    if (!application) return undefined;
    await this.db.transaction().execute((trx) => revokeApplicationForUser(trx, this.clock.now(), actor, user, { clientId, name: application.name }));
    return application;
  }

  /** Gives a confidential application a new client secret, returned here once; the old one stops working at once. */
  async rotateSecret(id: string, actor: Actor): Promise<string> {
    const application = await this.get(id);
    if (!application) throw notFound();
    if (application.kind !== 'confidential') throw new UserError('A public application has no client secret to rotate.', 400);
    const secret = randomToken(32);
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      if (!(await updateApplicationSecret(trx, id, this.box.seal(secret), now))) throw notFound();
      await recordAudit(trx, now, actor, { type: 'application.secret_rotated', detail: { application: application.name, clientId: id } });
    });
    return secret;
  }

  /** oidc-provider client metadata for a client id, or undefined. */
  async clientMetadata(clientId: string): Promise<Record<string, unknown> | undefined> {
    if (!CLIENT_ID.test(clientId)) return undefined;
    const row = await findApplicationRow(this.db, clientId);
    if (!row) return undefined;
    const application = applicationOf(row);
    const metadata: Record<string, unknown> = {
      client_id: application.id,
      client_name: application.name,
      redirect_uris: application.redirectUris,
      post_logout_redirect_uris: application.postLogoutRedirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: application.kind === 'confidential' ? 'client_secret_basic' : 'none',
      scope: (application.scopes.includes('openid') ? application.scopes : ['openid', ...application.scopes]).join(' '),
      latchkey_first_party: application.firstParty,
    };
    if (application.kind === 'confidential') {
      const secret = row.secret_sealed === null ? null : this.box.open(row.secret_sealed);
      // Sealed under another installation secret (LATCHKEY_SECRET changed): the operator must rotate it.
      if (secret === null) throw new Error(`the client secret of application ${application.id} cannot be opened with this installation secret; run latchkey apps rotate-secret ${application.id}`);
      metadata.client_secret = secret;
    }
    return metadata;
  }
}
