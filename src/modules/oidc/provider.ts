// "Sign in with Latchkey": the OpenID Connect provider (oidc-provider) configured for Latchkey — its routes,
// lifetimes, claims, storage (adapter.ts), keys (keys.ts), and Latchkey's own pages for login, consent,
// logout and errors. The protocol itself is oidc-provider's; this file only chooses its settings.
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Configuration, KoaContextWithOIDC, default as ProviderType } from 'oidc-provider';
import type { Services } from '../../services.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { databaseAdapter, type ClientSource } from './adapter.ts';
import { passwordNeededAfterRevoke } from './grants.service.ts';
import { KEY_RELOAD_MS, type KeySet } from './keys.ts';
import { errorView, logoutView, logoutDoneView } from './interactions.views.ts';

export type Provider = ProviderType;

/** Lifetimes, in seconds. Access tokens are short: an application refreshes, and a revoked refresh token ends it. */
export const TTL = {
  AuthorizationCode: 60,
  AccessToken: 10 * 60,
  IdToken: 60 * 60,
  RefreshToken: 30 * 86400,
  Interaction: 60 * 60,
} as const;

/** The longest any token lives: a retired signing key stays published this long (see keys.ts). */
export const LONGEST_TOKEN_SECONDS = Math.max(...Object.values(TTL));

/** The login prompt's reason when the person revoked the application on /account. */
export const REVOKED_CHECK = 'latchkey_revoked';

/** Where the interaction pages live; the provider sends the browser here to log in or consent. */
export const INTERACTION_PATH = '/oidc/interaction';

/** The issuer: the base URL without its trailing slash (https://id.example.com, not https://id.example.com/). */
export function issuerOf(baseUrl: URL): string {
  return baseUrl.href.replace(/\/+$/, '');
}

/** The provider's cookie signing keys, derived from the installation secret: every instance derives the same. */
export function cookieKeysOf(secret: string): string[] {
  return [Buffer.from(hkdfSync('sha256', secret, 'latchkey', 'oidc-cookies', 32)).toString('base64url')];
}

/**
 * Scopes Latchkey knows, and the claims each one releases. `sub` is the user's id: stable, never the email. `amr`
 * (RFC 8176): how the person signed in — a password, a second step, a passkey (interactions.pages.ts).
 */
export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'latchkey_admin'];
const CLAIMS = {
  openid: ['sub', 'amr'],
  profile: ['name'],
  email: ['email', 'email_verified'],
  latchkey_admin: ['latchkey_admin'],
};

function actorOfContext(ctx: KoaContextWithOIDC, userId: string | null = null): Actor {
  const agent = ctx.get('user-agent');
  return { userId, ip: ctx.ip, userAgent: agent || null };
}

/**
 * Builds a Provider over the services and a set of signing keys. oidc-provider is imported here, at the first
 * request that needs it (see OidcProvider), and never by the command line.
 */
export async function createProvider(services: Services & { applications: ClientSource }, keySet: KeySet, cookieKeys: string[]): Promise<Provider> {
  const { default: Provider, interactionPolicy } = await import('oidc-provider');
  const { config, db, clock, users, sessions, cookies, logger } = services;

  // The login prompt also asks again when Latchkey's own session is gone (logged out, ended, expired) or belongs to
  // someone else: the provider's session never outlives the Latchkey session it came from.
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check('latchkey_session', 'The Latchkey session has ended', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const auth = await sessions.validate(ctx.cookies.get(cookies.name('session'), { signed: false }));
      return auth?.user.id === accountId ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  // After "Revoke" on /account, the application's next sign-in asks for the password (see grants.service.ts).
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(REVOKED_CHECK, 'The person revoked this application', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return (await passwordNeededAfterRevoke(db, accountId, clientId)) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );

  const configuration: Configuration = {
    adapter: databaseAdapter(db, clock, services.applications),
    jwks: { keys: keySet.keys as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure: config.secureCookies },
      short: { httpOnly: true, sameSite: 'lax', secure: config.secureCookies },
    },
    routes: {
      authorization: '/oidc/auth',
      token: '/oidc/token',
      jwks: '/oidc/jwks',
      userinfo: '/oidc/me',
      revocation: '/oidc/token/revocation',
      introspection: '/oidc/token/introspection',
      end_session: '/oidc/session/end',
    },
    scopes: SCOPES,
    claims: CLAIMS,
    extraClientMetadata: { properties: ['latchkey_first_party'] },
    features: {
      devInteractions: { enabled: false },
      // An application may revoke or introspect only its own tokens. oidc-provider 8 refuses by itself to revoke
      // another application's token; its default lets a confidential application introspect any token, and so read
      // whom another application's token belongs to.
      revocation: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = logoutView(ctx.oidc.client?.clientName ?? null, form);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = logoutDoneView(ctx.oidc.client?.clientName ?? null);
        },
      },
    },
    // Every client uses PKCE, with S256 only (never "plain").
    pkce: { methods: ['S256'], required: () => true },
    // What applications registered in Latchkey can use: a secret in the Authorization header or in the body
    // (either works for a confidential application), or none with PKCE for a public one. No JWT assertions.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    // A refresh token works once: each use returns a new one, and the old one is refused after that.
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    ttl: {
      AuthorizationCode: TTL.AuthorizationCode,
      AccessToken: TTL.AccessToken,
      IdToken: TTL.IdToken,
      RefreshToken: TTL.RefreshToken,
      Interaction: TTL.Interaction,
      // The provider's session is no longer than a Latchkey session (and ends with it: see the latchkey_session check).
      Session: config.sessionMaxSeconds,
      // A grant with offline access lives as long as its refresh tokens; any other, as long as a session.
      Grant: (_ctx, grant) => (grant.getOIDCScope().split(' ').includes('offline_access') ? TTL.RefreshToken : config.sessionMaxSeconds),
    },
    // Browser-based applications may call the token, userinfo and revocation endpoints from their own origins:
    // those of their registered redirect URIs.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    interactions: {
      policy,
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    // First-party applications need no consent screen: their grant is made here, with the scopes they asked for.
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (client.metadata().latchkey_first_party !== true) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].filter((scope) => SCOPES.includes(scope)).join(' '));
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => {
      const user = await users.get(sub);
      // An archived user has no account here: their tokens stop working at userinfo and introspection.
      if (!user || user.status !== 'active') return undefined;
      return {
        accountId: user.id,
        async claims() {
          return {
            sub: user.id,
            name: user.name,
            email: user.email,
            // Latchkey does not confirm addresses yet (issue 10 adds that): no address is claimed as verified.
            email_verified: false,
            latchkey_admin: user.role === 'admin',
          };
        },
      };
    },
    // Errors of the protocol, as Latchkey's calm error page: the error code and its description, never a stack trace.
    renderError: async (ctx, out, error) => {
      if (!(error instanceof Error && 'expose' in error && error.expose)) logger.error({ err: error }, 'OpenID Connect provider error');
      ctx.type = 'html';
      ctx.body = errorView(out.error, out.error_description);
    },
    // Discovery tells applications what the provider supports; nothing else is turned on by default.
    responseTypes: ['code'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  };

  const provider = new Provider(issuerOf(config.baseUrl), configuration);
  // Behind a proxy Latchkey trusts, the provider believes its X-Forwarded-Proto (https) and X-Forwarded-For.
  provider.proxy = config.trustProxy !== false;

  // Every sign-in to an application is audited: each authorization that gives an application a code.
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    const client = ctx.oidc.client;
    if (!accountId || !client) return;
    void users
      .get(accountId)
      .then((user) =>
        recordAudit(db, clock.now(), actorOfContext(ctx, accountId), {
          type: 'oidc.signed_in',
          userId: accountId,
          email: user?.email ?? null,
          detail: { application: client.clientName ?? client.clientId, clientId: client.clientId },
        }),
      )
      .catch((error: unknown) => logger.error({ err: error }, 'could not record an application sign-in'));
  });

  // "Yes, sign me out" at an application's logout ends the Latchkey session of this browser too, or the next
  // sign-in would go through without a password.
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    if (!ctx.oidc.params?.logout) return;
    const token = ctx.cookies.get(cookies.name('session'), { signed: false });
    const attributes = `Path=/; Max-Age=0; HttpOnly; SameSite=Lax${config.secureCookies ? '; Secure' : ''}`;
    ctx.append('set-cookie', `${cookies.name('session')}=; ${attributes}`);
    void sessions
      .validate(token)
      .then((auth) => auth && sessions.logOut(auth.user, auth.session, actorOfContext(ctx, auth.user.id)))
      .catch((error: unknown) => logger.error({ err: error }, 'could not end the Latchkey session at logout'));
  });

  return provider;
}

/**
 * The provider in use, built on first use and rebuilt when the signing keys change: every KEY_RELOAD_MS each
 * instance reads the keys again, so a `latchkey keys rotate` reaches every running instance within a minute.
 *
 * oidc-provider (with koa, jose and the rest) costs about 40 MB of memory once loaded, so it is loaded when the
 * first request reaches one of its routes or pages, not at start; the signing keys are still made at start.
 */
const handlers = new WeakMap<Provider, (req: IncomingMessage, res: ServerResponse) => void>();

export class OidcProvider {
  private timer: NodeJS.Timeout | null = null;
  private current: Provider | null = null;
  /** The first build, shared by every request that arrives while it runs; null until asked for (or if it failed). */
  private loading: Promise<Provider> | null = null;

  private constructor(
    private keySet: KeySet,
    private readonly build: (keys: KeySet) => Promise<Provider>,
    private readonly loadKeys: () => Promise<KeySet>,
  ) {}

  /** Loads (or makes, at first start) the signing keys; the provider itself waits for its first request. */
  static async start(services: Services & { applications: ClientSource }, cookieKeys: string[], loadKeys: () => Promise<KeySet>): Promise<OidcProvider> {
    const holder = new OidcProvider(await loadKeys(), (keys) => createProvider(services, keys, cookieKeys), loadKeys);
    holder.timer = setInterval(() => {
      holder.reload().catch((error: unknown) => services.logger.error({ err: error }, 'could not reload the OpenID Connect signing keys'));
    }, KEY_RELOAD_MS);
    holder.timer.unref();
    return holder;
  }

  /** The provider, built at the first call; calls made while it is being built wait for the same one. */
  load(): Promise<Provider> {
    this.loading ??= this.buildCurrent().catch((error: unknown) => {
      this.loading = null;
      throw error;
    });
    return this.loading;
  }

  /** The provider, once load() has finished (every route and page of the provider waits for it first). */
  get provider(): Provider {
    if (!this.current) throw new Error('the OpenID Connect provider is used before it was loaded');
    return this.current;
  }

  /** The provider's request handler (built once per provider: composing it costs more than a request). */
  get handler(): (req: IncomingMessage, res: ServerResponse) => void {
    const provider = this.provider;
    let handler = handlers.get(provider);
    if (!handler) {
      handler = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
      handlers.set(provider, handler);
    }
    return handler;
  }

  /** Reads the keys again; if they changed, a provider already in use is replaced. Returns whether they changed. */
  async reload(): Promise<boolean> {
    const keys = await this.loadKeys();
    if (keys.fingerprint === this.keySet.fingerprint && keys.signingKid === this.keySet.signingKid) return false;
    this.keySet = keys;
    if (this.loading) await this.buildCurrent();
    return true;
  }

  /** Builds a provider over the latest keys; it becomes current unless newer keys arrived while it was built. */
  private async buildCurrent(): Promise<Provider> {
    const keys = this.keySet;
    const provider = await this.build(keys);
    if (this.keySet === keys || this.current === null) this.current = provider;
    return this.current;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
