// Builds the domain services from the settings: the one place that wires database, clock, mail and rules.
import { ConfigError, describeDatabase, type Config } from './config.ts';
import { CatalogueError, Languages, readCatalogues, setDefaultTranslator } from './infra/i18n.ts';
import { languagesOfUsers } from './modules/users/users.repo.ts';
import { UserError } from './infra/errors.ts';
import type { Clock } from './infra/clock.ts';
import { BrowserCookies } from './infra/cookies.ts';
import { SecretBox } from './infra/crypto.ts';
import { holdServerLock, migrateToLatest, openDatabase, type Db } from './infra/db.ts';
import type { Logger } from './infra/logger.ts';
import { openReportReader } from './infra/report-reader.ts';
import { loadSecret } from './infra/secret.ts';
import { Outbox } from './modules/mail/outbox.ts';
import { MailRouter, MailServers } from './modules/mail/servers.ts';
import { MailWorker } from './modules/mail/worker.ts';
import { Bounces } from './modules/mail/bounces.service.ts';
import type { BounceListener } from './modules/mail/bounce-listener.ts';
import type { BounceMailbox } from './modules/mail/bounce-mailbox.ts';
import { ReturnPaths } from './modules/mail/return-path.ts';
import { Passwords } from './modules/passwords/passwords.service.ts';
import { PasswordPolicy } from './modules/passwords/policy.ts';
import { ApiKeys } from './modules/apikeys/apikeys.service.ts';
import { Recovery, REQUEST_BATCH } from './modules/recovery/recovery.service.ts';
import { Addresses } from './modules/recovery/addresses.service.ts';
import { Retention } from './modules/retention/retention.service.ts';
import { Login } from './modules/sessions/login.ts';
import { Sessions } from './modules/sessions/sessions.ts';
import { UserDirectory } from './modules/users/users.service.ts';
import { UserImport } from './modules/transfer/import.service.ts';
import { UserExport } from './modules/transfer/export.service.ts';
import { COMMAND_LINE } from './modules/audit/audit.ts';
import { AuditLog } from './modules/audit/audit.service.ts';
import { Security } from './modules/security/security.service.ts';
import { Throttle } from './modules/throttle/throttle.ts';
import { TwoStep } from './modules/twostep/twostep.service.ts';
import { relyingPartyOf } from './modules/twostep/webauthn.ts';
import { Applications } from './modules/applications/applications.service.ts';
import { Webhooks } from './modules/webhooks/webhooks.service.ts';
import { WebhookWorker } from './modules/webhooks/worker.ts';

export interface Services {
  config: Config;
  /** The language catalogues, and a translator for each language. */
  languages: Languages;
  db: Db;
  clock: Clock;
  logger: Logger;
  outbox: Outbox;
  mailServers: MailServers;
  worker: MailWorker;
  /** Delivery status notifications: marks messages "Bounced" and addresses "Undeliverable". */
  bounces: Bounces;
  /** The inbound SMTP listener for bounces (LATCHKEY_BOUNCE_LISTEN); built, not started; null when off. */
  bounceListener: BounceListener | null;
  /** The polled bounce mailbox (LATCHKEY_BOUNCE_IMAP_URL); built, not started; null when off. */
  bounceMailbox: BounceMailbox | null;
  policy: PasswordPolicy;
  users: UserDirectory;
  /** Moving users in from another system and out again (the command line's users import / export). */
  userImport: UserImport;
  userExport: UserExport;
  sessions: Sessions;
  cookies: BrowserCookies;
  login: Login;
  passwords: Passwords;
  recovery: Recovery;
  /** Invitations, confirmed addresses and the user's own address change. */
  addresses: Addresses;
  throttle: Throttle;
  audit: AuditLog;
  /** The Security view and its alert checks; built, not started. */
  security: Security;
  /** The periodic cleanup of records past their retention; built, not started. */
  retention: Retention;
  /** Administrators' webhook subscriptions. */
  webhooks: Webhooks;
  /** Turns audit events into webhook deliveries and sends them; built, not started (it runs beside the mail worker). */
  webhookWorker: WebhookWorker;
  /** The relying parties of the OpenID Connect provider. */
  applications: Applications;
  apiKeys: ApiKeys;
  /** Two-step verification: authenticator apps, passkeys, recovery codes, the second step of every sign-in, and passkey logins. */
  twoStep: TwoStep;
  /** Seals what waits in the browser between the two steps of a sign-in, passkey challenges, and recovery codes on their way to their page. */
  twoStepCookies: SecretBox;
  close(): Promise<void>;
}

/** Opens the database, applies migrations and wires every service. The mail worker is built, not started. */
export async function createServices(config: Config, clock: Clock, logger: Logger, options: { backgroundCheckpoint?: boolean } = {}): Promise<Services> {
  // Read first: a catalogue that cannot be read stops the start before anything is opened.
  const languages = openLanguages(config);
  const secret = loadSecret(config.secret, config.dataDir);
  // On SQLite one server owns the file; the command line works beside it (see holdServerLock).
  const releaseLock = options.backgroundCheckpoint && config.database.kind === 'sqlite' ? holdServerLock(config.database.path) : () => undefined;
  const db = openDatabase(config.database, { ...options, walLimitBytes: config.sqliteWalLimitBytes });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    releaseLock();
    throw unreachable(error, config) ?? error;
  }
  // What runs outside a request or a mail (the command line, a worker's own messages) speaks the installation's language.
  setDefaultTranslator(languages.get(config.languages.defaultLanguage));
  const outbox = new Outbox(db, clock, new SecretBox(secret, 'mail-token'), { baseUrl: config.baseUrl }, languages, languagesOfUsers);
  const mailServers = new MailServers(db, clock, new SecretBox(secret, 'mail-server-password'), config.smtpUrl);
  const router = new MailRouter(mailServers, config.dkim);
  const returnPaths = config.bounces.domain ? new ReturnPaths(secret, config.bounces.domain) : null;
  const bounces = new Bounces(db, clock, returnPaths, logger);
  // The SMTP listener and the IMAP client load only where they are configured.
  const bounceListener =
    returnPaths && config.bounces.listen
      ? new (await import('./modules/mail/bounce-listener.ts')).BounceListener(bounces, returnPaths, config.bounces.listen, logger)
      : null;
  const bounceMailbox = config.bounces.imap ? new (await import('./modules/mail/bounce-mailbox.ts')).BounceMailbox(bounces, config.bounces.imap, clock, logger) : null;
  const worker = new MailWorker(db, clock, outbox, () => router.transports(), logger, {
    from: config.mailFrom,
    replyTo: config.mailReplyTo,
    returnPath: returnPaths ? (id) => returnPaths.addressFor(id) : null,
    leaseMs: config.mailLeaseSeconds * 1000,
    retryHorizonMs: config.mailRetryHorizonSeconds * 1000,
    logLinks: !config.production,
    // Self-service reset requests become links and mails in the courier's pass, on instances that send mail.
    intake: () => recovery.actOnRequests(),
    intakeBatch: REQUEST_BATCH,
  });
  const policy = new PasswordPolicy(config.passwordPolicy);
  const users = new UserDirectory(db, clock, policy, languages);
  const sessions = new Sessions(db, clock, {
    idleSeconds: config.sessionIdleSeconds,
    maxSeconds: config.sessionMaxSeconds,
  });
  const throttle = new Throttle({ db }, { formPostsPerMinute: config.rateLimitPerMinute, resetMailsPerHour: config.resetLimitPerHour });
  const twoStep = new TwoStep(db, clock, sessions, throttle, outbox, new SecretBox(secret, 'two-step-authenticator-secret'), {
    required: config.twoStepRequired,
    issuer: 'Latchkey',
    relyingParty: relyingPartyOf(config.baseUrl, 'Latchkey'),
  });
  const passwords = new Passwords(db, clock, policy, sessions, outbox, throttle);
  const recovery = new Recovery(db, clock, passwords, sessions, outbox, throttle, {
    ttlSeconds: config.resetTtlSeconds,
    // A pass that stopped mid-batch leaves its requests to others after the same time as its mail.
    requestLeaseMs: config.mailLeaseSeconds * 1000,
  }, twoStep);
  const login = new Login(db, clock, users, sessions, throttle, twoStep);
  // Reports read a lot: on SQLite off the server's thread, so an administrator's page never holds the others.
  const reports = openReportReader(db);
  const security = new Security(db, reports, clock, outbox, logger, config.alerts);
  const webhookSecrets = new SecretBox(secret, 'webhook-signing-secret');
  const webhookWorker = new WebhookWorker(db, clock, webhookSecrets, logger, {
    timeoutMs: config.webhooks.timeoutSeconds * 1000,
    retryHorizonMs: config.webhooks.retryHorizonSeconds * 1000,
    allowPrivate: config.webhooks.allowPrivate,
  });
  const retention = new Retention(db, clock, logger, config.retention);
  const apiKeys = new ApiKeys(db, clock);
  return {
    config,
    languages,
    db,
    clock,
    logger,
    outbox,
    mailServers,
    worker,
    bounces,
    bounceListener,
    bounceMailbox,
    policy,
    users,
    userImport: new UserImport(db, clock),
    userExport: new UserExport(db, clock),
    sessions,
    cookies: new BrowserCookies(config.secureCookies),
    login,
    passwords,
    recovery,
    addresses: new Addresses(db, clock, recovery, users, passwords, sessions, {
      invitationTtlSeconds: config.invitationTtlSeconds,
      confirmTtlSeconds: config.resetTtlSeconds,
    }),
    throttle,
    audit: new AuditLog(reports),
    security,
    retention,
    webhooks: new Webhooks(db, clock, webhookSecrets, config.webhooks),
    webhookWorker,
    applications: new Applications(db, clock, new SecretBox(secret, 'application-client-secret')),
    apiKeys,
    twoStep,
    twoStepCookies: new SecretBox(secret, 'two-step-pending'),
    async close() {
      await apiKeys.settled();
      await retention.stop();
      await security.stop();
      await bounceListener?.stop();
      await bounceMailbox?.stop();
      await worker.stop();
      await webhookWorker.close();
      throttle.close();
      router.close();
      if (reports !== db) await reports.destroy();
      await db.destroy();
      releaseLock();
    },
  };
}

// Why a database cannot be used at all: not there, refused, wrong password, no such database, not a database file.
const UNREACHABLE = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', '28P01', '28000', '3D000', 'SQLITE_CANTOPEN', 'SQLITE_NOTADB'];

/** A one-line message that names the database (never its password) when it cannot be reached. */
/** The catalogues and their translators; a catalogue that cannot be read stops the start with one line naming it. */
function openLanguages(config: Config): Languages {
  try {
    return new Languages(readCatalogues(config.languages.localesDir), config.languages);
  } catch (error) {
    if (error instanceof CatalogueError) throw new ConfigError(`LATCHKEY_LOCALES_DIR: ${error.message}`);
    throw error;
  }
}

function unreachable(error: unknown, config: Config): ConfigError | null {
  const e = error as { code?: string; message?: string };
  const timedOut = /timeout exceeded when trying to connect/i.test(e.message ?? '');
  if (!timedOut && !UNREACHABLE.includes(e.code ?? '')) return null;
  return new ConfigError(`LATCHKEY_DATABASE_URL: cannot use ${describeDatabase(config.database)}: ${(e.message ?? String(error)).split('\n')[0]}`);
}

/** The first administrator from LATCHKEY_ADMIN_EMAIL / LATCHKEY_ADMIN_PASSWORD, only while no user exists. */
export async function ensureFirstAdministrator(services: Services): Promise<void> {
  const admin = services.config.admin;
  if (!admin || (await services.users.count()) > 0) return;
  try {
    await services.users.create({ email: admin.email, name: 'Administrator', password: admin.password, role: 'admin' }, COMMAND_LINE);
  } catch (error) {
    // Instances started together all see an empty directory: one creates the administrator, the others find it made.
    if (error instanceof UserError && error.status === 409 && (await services.users.findByTypedEmail(admin.email))?.role === 'admin') return;
    if (error instanceof UserError) throw new ConfigError(`LATCHKEY_ADMIN_EMAIL / LATCHKEY_ADMIN_PASSWORD: ${error.message}`);
    throw error;
  }
  services.logger.info({ email: admin.email }, 'created the first administrator');
}
