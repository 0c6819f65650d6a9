// Every setting Latchkey reads, with its default, checked once at start; nothing else reads process.env.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { LOCALES_DIR, SOURCE_LANGUAGE } from './infra/i18n.ts';

export type TwoStepRequired = 'off' | 'admins' | 'everyone';
const TWO_STEP_REQUIRED: readonly TwoStepRequired[] = ['off', 'admins', 'everyone'];
export type PasswordRule = 'upper' | 'lower' | 'digit' | 'special' | 'common' | 'personal';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const PASSWORD_RULES: readonly PasswordRule[] = ['upper', 'lower', 'digit', 'special', 'common', 'personal'];

export interface Config {
  port: number;
  host: string;
  baseUrl: URL;
  /** True when the base URL is https: cookies get the Secure flag and the __Host- prefix. */
  secureCookies: boolean;
  production: boolean;
  database: DatabaseSettings;
  dataDir: string;
  smtpUrl: string | null;
  mailFrom: string;
  mailReplyTo: string | null;
  dkim: { domainName: string; keySelector: string; privateKey: string } | null;
  /** Bounces: the per-message return path's domain, and where delivery status notifications come in (none: not received). */
  bounces: BounceSettings;
  /** How long a claimed message stays claimed before another worker may take it (a crash mid-send). */
  mailLeaseSeconds: number;
  resetTtlSeconds: number;
  /** Lifetime of an invitation link, and of the undo link sent to the old address when a user changes it. */
  invitationTtlSeconds: number;
  admin: { email: string; password: string } | null;
  secret: string | null;
  sessionIdleSeconds: number;
  sessionMaxSeconds: number;
  /** Requests per minute per IP address on the login and reset forms; 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** Origins (scheme://host[:port]) whose pages may call the JSON API from a browser; none by default. */
  apiCorsOrigins: string[];
  /** Reset emails per account per hour; 0 turns the limit off. */
  resetLimitPerHour: number;
  mailRetryHorizonSeconds: number;
  /**
   * Which proxies' X-Forwarded-For to believe: false (none), a number of hops counted from Latchkey, or
   * the proxies' own addresses (IPs or CIDR ranges). Only what those proxies appended is trusted.
   */
  trustProxy: false | number | string[];
  /** On SQLite, the write-ahead log is emptied once it grows past this many bytes. */
  sqliteWalLimitBytes: number;
  /** Whether this instance sends mail; web-only instances set LATCHKEY_MAIL_WORKER=off. */
  mailWorker: boolean;
  /** Who may read /metrics: addresses (IPs or CIDR ranges), or anyone with the bearer token. */
  metrics: { allow: string[]; token: string | null };
  /** Seconds a stopping server waits for requests in flight and the mail in hand. */
  shutdownGraceSeconds: number;
  /** Webhook deliveries: where they may go, how long one attempt may take, and how long to keep retrying. */
  webhooks: { allowPrivate: boolean; allowHttp: boolean; timeoutSeconds: number; retryHorizonSeconds: number };
  /** The Security view's alert rules, and how often they are checked (0: not on this instance). */
  alerts: AlertSettings;
  /** LATCHKEY_LANGUAGE and LATCHKEY_TIME_ZONE: mails to people who chose no language, and every date shown. */
  languages: { defaultLanguage: string; timeZone: string; localesDir: string };
  /** How many days old records are kept (0: kept for ever), and how often one instance removes the rest (0: not this one). */
  retention: { auditDays: number; anonymousDays: number; mailDays: number; linksDays: number; intervalSeconds: number };
  logLevel: string;
  /** Who must have two-step verification: nobody, administrators, or everyone (led to set it up at their next login). */
  twoStepRequired: TwoStepRequired;
  passwordPolicy: { minLength: number; maxLength: number; rules: PasswordRule[] };
}

export interface BounceSettings {
  /** Mail goes out with the envelope sender bounces+<id>-<tag>@<domain>; null: the From address, no VERP. */
  domain: string | null;
  /** The inbound SMTP listener for DSNs; null: off. */
  listen: { host: string; port: number } | null;
  /** The IMAP mailbox polled for DSNs; null: off. `password` is a secret: never log it. */
  imap: { host: string; port: number; secure: boolean; requireStartTls: boolean; user: string; password: string; mailbox: string; intervalMs: number } | null;
}

export interface AlertSettings {
  intervalSeconds: number;
  /** Reset requests or failed logins in the last hour above this many times the hourly median of 7 days… */
  spikeFactor: number;
  /** …and above these counts. */
  resetMinimum: number;
  failedLoginMinimum: number;
  /** Different addresses asked for from one IP address or network in an hour. */
  sprayAccounts: number;
  /** Different IP addresses asking for one address in an hour. */
  targetedIps: number;
  /** Share of mail deliveries that failed in an hour, in percent, once there were at least `mailFailureMinimum`. */
  mailFailurePercent: number;
  mailFailureMinimum: number;
}

export type DatabaseSettings =
  | { kind: 'sqlite'; path: string }
  /** `url` holds the password, if any: never log it (describeDatabase() gives a safe label). */
  | { kind: 'postgres'; url: string; poolSize: number };

/** Where the data lives, for logs and messages: never the password. */
export function describeDatabase(database: DatabaseSettings): string {
  if (database.kind === 'sqlite') return `SQLite ${database.path}`;
  const url = new URL(database.url);
  return `PostgreSQL ${url.hostname || 'socket'}${url.port ? `:${url.port}` : ''}${url.pathname}`;
}

/** A setting that cannot be used; its message is one line that names the variable. */
export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Days to keep something: 0 keeps it for ever, else at least `min` (the Security view reads the last 7 days). */
function retentionDays(env: Env, name: string, fallback: number, min: number): number {
  const days = integer(env, name, fallback, 0, 36_500);
  if (days !== 0 && days < min) throw new ConfigError(`${name} must be 0 (keep for ever) or at least ${min} days, got ${days}`);
  return days;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/** A database URL (`sqlite:<path>` or `postgres://…`); `name` is what its messages call it (a variable or a command-line option). */
/** A comma-separated list of origins (https://app.example.org); each must be exactly an origin, nothing more. */
function origins(env: NodeJS.ProcessEnv, name: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw.split(',').map((item) => {
    const text = item.trim();
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError(`${name}: "${text}" is not an origin such as https://app.example.org`);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== text.replace(/\/$/, '')) {
      throw new ConfigError(`${name}: "${text}" is not an origin such as https://app.example.org (scheme, host and port only)`);
    }
    return url.origin;
  });
}

export function parseDatabaseUrl(raw: string, cwd: string, poolSize: number, name = 'LATCHKEY_DATABASE_URL'): DatabaseSettings {
  if (raw.startsWith('sqlite:')) {
    const file = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file === '') throw new ConfigError(`${name} must name a file, as in sqlite:./data/latchkey.db`);
    return { kind: 'sqlite', path: file === ':memory:' ? file : path.resolve(cwd, file) };
  }
  if (/^postgres(ql)?:\/\//.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(`${name} is not a valid URL (expected postgres://user:password@host:5432/database)`);
    }
    if (url.pathname.length <= 1 && !url.searchParams.has('dbname')) {
      throw new ConfigError(`${name} must name a database, as in postgres://latchkey@localhost:5432/latchkey`);
    }
    return { kind: 'postgres', url: raw, poolSize };
  }
  throw new ConfigError(`${name} must start with sqlite: or postgres://, got "${raw.replace(/\/\/[^@/]*@/, '//…@')}"`);
}

function parseTrustProxy(raw: string | undefined): Config['trustProxy'] {
  const value = raw?.trim().toLowerCase() ?? '';
  if (value === '' || ['0', 'false', 'no', 'off'].includes(value)) return false;
  // "true" means one proxy in front (nginx, a load balancer): trusting every hop would let clients choose their address.
  if (['true', 'yes', 'on'].includes(value)) return 1;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 10) throw new ConfigError(`LATCHKEY_TRUST_PROXY must be a number of proxies between 0 and 10, got ${hops}`);
    return hops;
  }
  return addressList(raw!, 'LATCHKEY_TRUST_PROXY');
}

/** A comma list of IP addresses or CIDR ranges. */
function addressList(raw: string, name: string): string[] {
  const list = raw.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of list) {
    const [address, bits, extra] = item.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > maxBits))) {
      throw new ConfigError(`${name}: "${item}" is not an IP address or CIDR range (like 10.0.0.0/8)`);
    }
  }
  return list;
}

function metricsToken(raw: string | undefined): string | null {
  const token = raw?.trim() ?? '';
  if (token === '') return null;
  if (token.length < 16) throw new ConfigError('LATCHKEY_METRICS_TOKEN must be at least 16 characters');
  return token;
}

function parseSmtpUrl(raw: string | undefined): string | null {
  if (raw === undefined || raw.trim() === '') return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError('LATCHKEY_SMTP_URL is not a valid URL (expected smtp://[user:pass@]host:port or smtps://…)');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new ConfigError(`LATCHKEY_SMTP_URL must start with smtp:// or smtps://, got ${url.protocol}//`);
  }
  if (url.hostname === '') throw new ConfigError('LATCHKEY_SMTP_URL must name a host');
  return url.toString();
}

function parseMailFrom(raw: string | undefined, name = 'LATCHKEY_MAIL_FROM'): string {
  const value = raw?.trim() || 'Latchkey <no-reply@localhost>';
  if (/[\r\n]/.test(value)) throw new ConfigError(`${name} must be on one line`);
  if (!/^[^<>@\s]+@[^<>@\s]+$|^[^<>]*<[^<>@\s]+@[^<>@\s]+>$/.test(value)) {
    throw new ConfigError(`${name} must be an address or "Name <address>", got "${value}"`);
  }
  return value;
}

function parseDkim(env: Env, cwd: string): Config['dkim'] {
  const domainName = env.LATCHKEY_DKIM_DOMAIN?.trim();
  const keySelector = env.LATCHKEY_DKIM_SELECTOR?.trim();
  const keyFile = env.LATCHKEY_DKIM_PRIVATE_KEY_FILE?.trim();
  if (!domainName && !keySelector && !keyFile) return null;
  if (!domainName || !keySelector || !keyFile) {
    throw new ConfigError('LATCHKEY_DKIM_DOMAIN, LATCHKEY_DKIM_SELECTOR and LATCHKEY_DKIM_PRIVATE_KEY_FILE must be set together');
  }
  if (!/^[a-z0-9.-]+$/i.test(domainName)) throw new ConfigError(`LATCHKEY_DKIM_DOMAIN is not a domain name: "${domainName}"`);
  if (!/^[a-z0-9._-]+$/i.test(keySelector)) throw new ConfigError(`LATCHKEY_DKIM_SELECTOR is not a selector: "${keySelector}"`);
  let privateKey: string;
  try {
    privateKey = readFileSync(path.resolve(cwd, keyFile), 'utf8');
  } catch {
    throw new ConfigError(`LATCHKEY_DKIM_PRIVATE_KEY_FILE cannot be read: ${keyFile}`);
  }
  if (!privateKey.includes('PRIVATE KEY-----')) throw new ConfigError('LATCHKEY_DKIM_PRIVATE_KEY_FILE does not hold a PEM private key');
  return { domainName, keySelector, privateKey };
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const LOOPBACK = ['127.0.0.1', '::1', '[::1]', 'localhost'];

function parseBounces(env: Env): BounceSettings {
  const domain = env.LATCHKEY_BOUNCE_DOMAIN?.trim().toLowerCase() || null;
  if (domain !== null && !DOMAIN.test(domain)) throw new ConfigError(`LATCHKEY_BOUNCE_DOMAIN is not a domain name such as bounces.example.org: "${domain}"`);
  const listenRaw = env.LATCHKEY_BOUNCE_LISTEN?.trim() ?? '';
  let listen: BounceSettings['listen'] = null;
  if (listenRaw !== '' && !['off', 'false', '0', 'no'].includes(listenRaw.toLowerCase())) {
    const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listenRaw);
    const port = Number(match?.[3]);
    if (!match || port > 65535) throw new ConfigError(`LATCHKEY_BOUNCE_LISTEN must be host:port (like 127.0.0.1:2525) or off, got "${listenRaw}"`);
    listen = { host: match[1] ?? match[2]!, port };
  }
  const imapRaw = env.LATCHKEY_BOUNCE_IMAP_URL?.trim() ?? '';
  let imap: BounceSettings['imap'] = null;
  if (imapRaw !== '') {
    let url: URL;
    try {
      url = new URL(imapRaw);
    } catch {
      throw new ConfigError('LATCHKEY_BOUNCE_IMAP_URL is not a valid URL (expected imaps://user:password@host[:port][/mailbox])');
    }
    if (url.protocol !== 'imap:' && url.protocol !== 'imaps:') throw new ConfigError(`LATCHKEY_BOUNCE_IMAP_URL must start with imaps:// or imap://, got ${url.protocol}//`);
    if (url.hostname === '' || url.username === '') throw new ConfigError('LATCHKEY_BOUNCE_IMAP_URL must name a host and a user (imaps://user:password@host/INBOX)');
    const secure = url.protocol === 'imaps:';
    imap = {
      host: url.hostname,
      port: Number(url.port || (secure ? 993 : 143)),
      secure,
      // Plain imap:// must upgrade with STARTTLS, except to a server on this machine.
      requireStartTls: !secure && !LOOPBACK.includes(url.hostname),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      mailbox: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'INBOX',
      intervalMs: integer(env, 'LATCHKEY_BOUNCE_IMAP_INTERVAL', 60, 10, 86400) * 1000,
    };
  }
  if ((listen || imap) && !domain) throw new ConfigError('LATCHKEY_BOUNCE_DOMAIN must be set to receive bounces (LATCHKEY_BOUNCE_LISTEN or LATCHKEY_BOUNCE_IMAP_URL)');
  return { domain, listen, imap };
}

function parseRules(raw: string | undefined): PasswordRule[] {
  if (raw === undefined || raw.trim() === '') return [...PASSWORD_RULES];
  if (raw.trim() === 'none') return [];
  const rules = raw.split(',').map((rule) => rule.trim()).filter(Boolean);
  for (const rule of rules) {
    if (!PASSWORD_RULES.includes(rule as PasswordRule)) {
      throw new ConfigError(`LATCHKEY_PASSWORD_RULES: unknown rule "${rule}" (known: ${PASSWORD_RULES.join(', ')}, or none)`);
    }
  }
  return rules as PasswordRule[];
}

function parseRetention(env: Env): Config['retention'] {
  const intervalSeconds = integer(env, 'LATCHKEY_RETENTION_INTERVAL', 3600, 0, 7 * 86400);
  if (intervalSeconds !== 0 && intervalSeconds < 60) throw new ConfigError(`LATCHKEY_RETENTION_INTERVAL must be 0 (not on this instance) or at least 60 seconds, got ${intervalSeconds}`);
  return {
    // The Security view and its alerts read the last 7 days of events (and the hour under way): 8 days at least.
    auditDays: retentionDays(env, 'LATCHKEY_RETENTION_AUDIT_DAYS', 365, 8),
    anonymousDays: retentionDays(env, 'LATCHKEY_RETENTION_ANONYMOUS_DAYS', 30, 8),
    mailDays: retentionDays(env, 'LATCHKEY_RETENTION_MAIL_DAYS', 30, 1),
    linksDays: retentionDays(env, 'LATCHKEY_RETENTION_LINKS_DAYS', 30, 1),
    intervalSeconds,
  };
}

function parseAlerts(env: Env): AlertSettings {
  const intervalSeconds = integer(env, 'LATCHKEY_ALERT_INTERVAL', 60, 0, 3600);
  if (intervalSeconds !== 0 && intervalSeconds < 10) throw new ConfigError(`LATCHKEY_ALERT_INTERVAL must be 0 (not on this instance) or at least 10 seconds, got ${intervalSeconds}`);
  return {
    intervalSeconds,
    spikeFactor: integer(env, 'LATCHKEY_ALERT_SPIKE_FACTOR', 5, 2, 1000),
    resetMinimum: integer(env, 'LATCHKEY_ALERT_RESET_MIN', 100, 1, 10_000_000),
    failedLoginMinimum: integer(env, 'LATCHKEY_ALERT_FAILED_LOGIN_MIN', 50, 1, 10_000_000),
    sprayAccounts: integer(env, 'LATCHKEY_ALERT_SPRAY_ACCOUNTS', 20, 2, 1_000_000),
    targetedIps: integer(env, 'LATCHKEY_ALERT_TARGET_IPS', 10, 2, 1_000_000),
    mailFailurePercent: integer(env, 'LATCHKEY_ALERT_MAIL_FAILURE_PERCENT', 20, 1, 100),
    mailFailureMinimum: integer(env, 'LATCHKEY_ALERT_MAIL_FAILURE_MIN', 10, 1, 1_000_000),
  };
}

/**
 * The installation's language (one of the catalogues in locales/) and time zone (IANA, e.g. Europe/Paris).
 * LATCHKEY_LOCALES_DIR points at another folder of catalogues (a language being written, or a test's).
 */
function parseLanguages(env: Env): Config['languages'] {
  const localesDir = env.LATCHKEY_LOCALES_DIR?.trim() ? path.resolve(env.LATCHKEY_LOCALES_DIR.trim()) : LOCALES_DIR;
  let available: string[];
  try {
    available = readdirSync(localesDir).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
  } catch {
    throw new ConfigError(`LATCHKEY_LOCALES_DIR: no folder of language catalogues at ${localesDir}`);
  }
  const defaultLanguage = env.LATCHKEY_LANGUAGE?.trim() || SOURCE_LANGUAGE;
  if (!available.includes(defaultLanguage)) throw new ConfigError(`LATCHKEY_LANGUAGE must be one of ${available.sort().join(', ')}, got "${defaultLanguage}"`);
  const timeZone = env.LATCHKEY_TIME_ZONE?.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new ConfigError(`LATCHKEY_TIME_ZONE must be an IANA time zone such as Europe/Paris or UTC, got "${timeZone}"`);
  }
  return { defaultLanguage, timeZone, localesDir };
}

/** Reads `.env` from the working directory (without overriding the real environment), then the settings. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const envFile = path.join(cwd, '.env');
  if (env === process.env && existsSync(envFile)) process.loadEnvFile(envFile);

  const port = integer(env, 'LATCHKEY_PORT', 3000, 0, 65535);
  const host = env.LATCHKEY_HOST?.trim() || '127.0.0.1';
  if (!/^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$|^[0-9a-fA-F:.]+$/.test(host)) {
    throw new ConfigError(`LATCHKEY_HOST must be an IP address or host name, got "${host}"`);
  }
  const twoStepRequired = (env.LATCHKEY_TWO_STEP_REQUIRED?.trim() || 'off') as TwoStepRequired;
  if (!TWO_STEP_REQUIRED.includes(twoStepRequired)) {
    throw new ConfigError(`LATCHKEY_TWO_STEP_REQUIRED must be one of ${TWO_STEP_REQUIRED.join(', ')}, got "${twoStepRequired}"`);
  }
  const logLevel = env.LATCHKEY_LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LATCHKEY_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  let baseUrl: URL;
  try {
    baseUrl = new URL(env.LATCHKEY_BASE_URL?.trim() || `http://localhost:${port}`);
  } catch {
    throw new ConfigError(`LATCHKEY_BASE_URL is not a valid URL: "${env.LATCHKEY_BASE_URL}"`);
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw new ConfigError('LATCHKEY_BASE_URL must start with http:// or https://');
  }
  if (baseUrl.search || baseUrl.hash) throw new ConfigError('LATCHKEY_BASE_URL must not have a query or fragment');
  if (!baseUrl.pathname.endsWith('/')) baseUrl.pathname += '/';

  const adminEmail = env.LATCHKEY_ADMIN_EMAIL?.trim();
  const adminPassword = env.LATCHKEY_ADMIN_PASSWORD;
  if (Boolean(adminEmail) !== Boolean(adminPassword)) {
    throw new ConfigError('LATCHKEY_ADMIN_EMAIL and LATCHKEY_ADMIN_PASSWORD must be set together');
  }

  const minLength = integer(env, 'LATCHKEY_PASSWORD_MIN_LENGTH', 8, 8, 128);
  const maxLength = integer(env, 'LATCHKEY_PASSWORD_MAX_LENGTH', 128, 64, 1024);
  const sessionIdleSeconds = integer(env, 'LATCHKEY_SESSION_IDLE_TIMEOUT', 30 * 60, 60, 30 * 86400);
  const sessionMaxSeconds = integer(env, 'LATCHKEY_SESSION_MAX_AGE', 12 * 3600, 60, 365 * 86400);
  if (sessionMaxSeconds < sessionIdleSeconds) {
    throw new ConfigError('LATCHKEY_SESSION_MAX_AGE must not be shorter than LATCHKEY_SESSION_IDLE_TIMEOUT');
  }
  const dataDir = path.resolve(cwd, env.LATCHKEY_DATA_DIR?.trim() || './data');

  return {
    port,
    host,
    baseUrl,
    secureCookies: baseUrl.protocol === 'https:',
    production: env.NODE_ENV === 'production',
    database: parseDatabaseUrl(
      env.LATCHKEY_DATABASE_URL?.trim() || `sqlite:${path.join(dataDir, 'latchkey.db')}`,
      cwd,
      integer(env, 'LATCHKEY_DATABASE_POOL_SIZE', 10, 1, 500),
    ),
    dataDir,
    smtpUrl: parseSmtpUrl(env.LATCHKEY_SMTP_URL),
    mailFrom: parseMailFrom(env.LATCHKEY_MAIL_FROM),
    mailReplyTo: env.LATCHKEY_MAIL_REPLY_TO?.trim() ? parseMailFrom(env.LATCHKEY_MAIL_REPLY_TO, 'LATCHKEY_MAIL_REPLY_TO') : null,
    dkim: parseDkim(env, cwd),
    bounces: parseBounces(env),
    mailLeaseSeconds: integer(env, 'LATCHKEY_MAIL_LEASE', 120, 5, 3600),
    resetTtlSeconds: integer(env, 'LATCHKEY_RESET_TTL', 86400, 1, 7 * 86400),
    invitationTtlSeconds: integer(env, 'LATCHKEY_INVITATION_TTL', 7 * 86400, 60, 30 * 86400),
    admin: adminEmail && adminPassword ? { email: adminEmail, password: adminPassword } : null,
    secret: env.LATCHKEY_SECRET?.trim() || null,
    sessionIdleSeconds,
    sessionMaxSeconds,
    rateLimitPerMinute: integer(env, 'LATCHKEY_RATE_LIMIT', 30, 0, 1_000_000),
    apiCorsOrigins: origins(env, 'LATCHKEY_API_CORS_ORIGINS'),
    resetLimitPerHour: integer(env, 'LATCHKEY_RESET_LIMIT_PER_HOUR', 5, 0, 1_000_000),
    mailRetryHorizonSeconds: integer(env, 'LATCHKEY_MAIL_RETRY_HORIZON', 86400, 60, 30 * 86400),
    trustProxy: parseTrustProxy(env.LATCHKEY_TRUST_PROXY),
    sqliteWalLimitBytes: integer(env, 'LATCHKEY_SQLITE_WAL_LIMIT_MB', 16, 1, 65536) * 1024 * 1024,
    mailWorker: bool(env, 'LATCHKEY_MAIL_WORKER', true),
    metrics: {
      allow: env.LATCHKEY_METRICS_ALLOW === undefined ? ['127.0.0.1', '::1'] : addressList(env.LATCHKEY_METRICS_ALLOW, 'LATCHKEY_METRICS_ALLOW'),
      token: metricsToken(env.LATCHKEY_METRICS_TOKEN),
    },
    shutdownGraceSeconds: integer(env, 'LATCHKEY_SHUTDOWN_GRACE', 25, 1, 3600),
    webhooks: {
      allowPrivate: bool(env, 'LATCHKEY_WEBHOOK_ALLOW_PRIVATE', false),
      allowHttp: bool(env, 'LATCHKEY_WEBHOOK_ALLOW_HTTP', false),
      timeoutSeconds: integer(env, 'LATCHKEY_WEBHOOK_TIMEOUT', 10, 1, 60),
      retryHorizonSeconds: integer(env, 'LATCHKEY_WEBHOOK_RETRY_HORIZON', 86400, 60, 30 * 86400),
    },
    alerts: parseAlerts(env),
    languages: parseLanguages(env),
    retention: parseRetention(env),
    logLevel,
    twoStepRequired,
    passwordPolicy: { minLength, maxLength, rules: parseRules(env.LATCHKEY_PASSWORD_RULES) },
  };
}
