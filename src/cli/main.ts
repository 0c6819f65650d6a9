// The `latchkey` command line: parse, call the same services the pages call, print one clear line.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { systemClock } from '../infra/clock.ts';
import { UserError } from '../infra/errors.ts';
import { visibleLine } from '../infra/text.ts';
import { createLogger } from '../infra/logger.ts';
import { migrateToLatest, openDatabase } from '../infra/db.ts';
import { COMMAND_LINE } from '../modules/audit/audit.ts';
import { describeEndpoint, sendTestEmail } from '../modules/mail/transport.ts';
import { describeDuration, renderMail } from '../modules/mail/templates.ts';
import { isInvited } from '../modules/users/users.repo.ts';
import { normalizeEmail } from '../modules/users/identity.ts';
import { createServices, type Services } from '../services.ts';
import { serve } from '../server.ts';
import { copyInstallation } from './db-copy.ts';
import { readPassword } from './password-input.ts';
import { exportUsers, importUsers, pickFormat, TransferUsageError } from './users-transfer.ts';
import { loadSecret } from '../infra/secret.ts';
import { PUBLISH_LEAD_MS } from '../modules/oidc/keys.ts';
import { signingKeysOf } from '../modules/oidc/oidc.routes.ts';

const USAGE = `Usage: latchkey <command>

Commands:
  serve                                              start the server
  users add --email E --name N [--password-stdin] [--admin] [--language CODE]
                                                     create a user; --password-stdin reads the password
                                                     from a pipe, or asks for it at a terminal; without
                                                     a password the user is invited by email
  users list [--search Q]                            list users
  users resend-invitation EMAIL                      send a new invitation (the earlier link stops working)
  users confirm-email EMAIL                          ask the user to confirm the address (a mail with a
                                                     link that only confirms it)
  users send-reset EMAIL                             queue password reset instructions
  users reset-link EMAIL                             print a fresh reset link, for delivery by hand
  users remove-two-step EMAIL                        remove two-step verification (app and recovery codes),
                                                     end the user's sessions and mail the user: for a
                                                     person (or the last administrator) who lost both
  users import FILE [--format csv|jsonl] [--all-or-nothing]
                                                     create users from a CSV or JSON lines file (- reads
                                                     standard input); bad rows are reported by line and
                                                     skipped, or with --all-or-nothing nothing is written
  users export [--output FILE] [--format csv|jsonl] [--with-hashes]
                                                     write every user to standard output or FILE; password
                                                     hashes only with --with-hashes (they are secrets)
  mail test TO                                       send a test email through the outgoing server
  migrate                                            bring the database schema up to date
  keys rotate                                        new OpenID Connect signing key; the old one stays
                                                     published until its tokens have expired
  apps add --name N --redirect-uri U [--redirect-uri U2…] [--post-logout-redirect-uri U…]
           [--public] [--first-party] [--scope S…]   register an application (OpenID Connect client);
                                                     prints its client ID and, unless --public, its
                                                     client secret, once
  apps list                                          list applications
  apps remove CLIENT_ID                              remove an application
  apps rotate-secret CLIENT_ID                       print a new client secret; the old one stops working
  apikeys create --name N --scope S [--scope S2…] [--expires YYYY-MM-DD]
                                                     create a key for the JSON API (scopes: users:read,
                                                     users:write, resets:send, audit:read, mail:read);
                                                     prints the key once
  apikeys list                                       list API keys (never the keys themselves)
  apikeys revoke KEY_ID                              revoke an API key; calls with it are refused at once
  db copy --to URL [--from URL]                      copy every table into an empty database (SQLite to PostgreSQL)`;

/** Wrong usage: exit code 2. */
class UsageError extends Error {}

function parse(args: string[], options: ParseArgsConfig['options'], positionals: number, positional = 'email address') {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `unexpected argument "${parsed.positionals[0]}"` : `expected exactly one ${positional}`);
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

async function withServices<T>(config: Config, run: (services: Services) => Promise<T>): Promise<T> {
  // The command line logs only problems: its output is the answer.
  const services = await createServices(config, systemClock, createLogger('warn'));
  try {
    return await run(services);
  } finally {
    await services.close();
  }
}

async function findUser(services: Services, typed: string) {
  const email = normalizeEmail(typed);
  const user = await services.users.findByTypedEmail(email);
  if (!user) throw new UserError(`no user has the email ${email}`);
  return user;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

/** `latchkey apps …`: the Applications page's register, list, remove and rotate, for scripts. */
async function runApps(sub: string | undefined, rest: string[], out: (line: string) => void): Promise<void> {
  const showSecret = (secret: string) => {
    out(`Client secret: ${secret}`);
    out('Copy the client secret now: it will not be shown again.');
  };
  if (sub === 'add') {
    const { values } = parse(
      rest,
      {
        name: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'post-logout-redirect-uri': { type: 'string', multiple: true },
        public: { type: 'boolean' },
        'first-party': { type: 'boolean' },
        scope: { type: 'string', multiple: true },
      },
      0,
    );
    const redirectUris = strings(values['redirect-uri']);
    if (typeof values.name !== 'string' || redirectUris.length === 0) throw new UsageError('apps add needs --name and at least one --redirect-uri');
    await withServices(loadConfig(), async (services) => {
      const { application, secret } = await services.applications.create(
        {
          name: values.name as string,
          kind: values.public ? 'public' : 'confidential',
          firstParty: values['first-party'] === true,
          redirectUris,
          postLogoutRedirectUris: strings(values['post-logout-redirect-uri']),
          // --scope profile --scope email, or --scope "profile email"
          scopes: strings(values.scope).flatMap((scope) => scope.split(/[\s,]+/).filter(Boolean)),
        },
        COMMAND_LINE,
      );
      out(`Registered application ${visibleLine(application.name)} (${application.kind}, ${application.firstParty ? 'first-party' : 'third-party'}; scopes: ${application.scopes.join(' ')}).`);
      out(`Client ID: ${application.id}`);
      if (secret !== null) showSecret(secret);
    });
    return;
  }
  if (sub === 'list') {
    parse(rest, {}, 0);
    await withServices(loadConfig(), async (services) => {
      const list = await services.applications.list();
      if (list.length === 0) return out('No applications.');
      for (const application of list) {
        out(
          [
            application.id,
            visibleLine(application.name),
            application.kind === 'confidential' ? 'Confidential' : 'Public',
            application.firstParty ? 'First-party' : 'Third-party',
            application.redirectUris.map(visibleLine).join(' '),
            application.scopes.join(' '),
          ].join('\t'),
        );
      }
    });
    return;
  }
  if (sub === 'remove' || sub === 'rotate-secret') {
    const { positionals } = parse(rest, {}, 1, 'client ID');
    const id = positionals[0]!;
    await withServices(loadConfig(), async (services) => {
      const application = await services.applications.get(id);
      if (!application) throw new UserError(`no application has the client ID ${id}`);
      if (sub === 'remove') {
        await services.applications.remove(application.id, COMMAND_LINE);
        out(`Removed application ${visibleLine(application.name)} (${application.id}).`);
      } else {
        showSecret(await services.applications.rotateSecret(application.id, COMMAND_LINE));
      }
    });
    return;
  }
  throw new UsageError(`unknown apps command "${sub ?? ''}" (add, list, remove, rotate-secret)`);
}

/** `latchkey apikeys …`: the API Keys page's create, list and revoke, for scripts. */
async function runApiKeys(sub: string | undefined, rest: string[], out: (line: string) => void): Promise<void> {
  if (sub === 'create') {
    const { values } = parse(rest, { name: { type: 'string' }, scope: { type: 'string', multiple: true }, expires: { type: 'string' } }, 0);
    const scopes = strings(values.scope).flatMap((scope) => scope.split(/[\s,]+/).filter(Boolean));
    if (typeof values.name !== 'string' || scopes.length === 0) throw new UsageError('apikeys create needs --name and at least one --scope');
    let expiresAt: number | null = null;
    if (typeof values.expires === 'string') {
      // The end of that day in UTC: a key "until 2027-01-31" works all of that day.
      if (!/^\d{4}-\d{2}-\d{2}$/.test(values.expires) || Number.isNaN(Date.parse(`${values.expires}T23:59:59Z`))) throw new UsageError('--expires takes a date such as 2027-01-31');
      expiresAt = Date.parse(`${values.expires}T23:59:59.999Z`);
    }
    await withServices(loadConfig(), async (services) => {
      const { key, secret } = await services.apiKeys.create({ name: values.name as string, scopes, expiresAt }, COMMAND_LINE);
      out(`Created API key ${visibleLine(key.name)} (${key.id}; scopes: ${key.scopes.join(' ')}${key.expiresAt ? `; expires ${new Date(key.expiresAt).toISOString()}` : ''}).`);
      out(`Key: ${secret}`);
      out('Copy the key now: it will not be shown again.');
    });
    return;
  }
  if (sub === 'list') {
    parse(rest, {}, 0);
    await withServices(loadConfig(), async (services) => {
      const keys = await services.apiKeys.list();
      if (keys.length === 0) return out('No API keys.');
      const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
      for (const key of keys) {
        out([key.id, visibleLine(key.name), `${key.prefix}…`, key.scopes.join(','), services.apiKeys.stateOf(key), `created ${when(key.createdAt)}`, `last used ${when(key.lastUsedAt)}`, `expires ${when(key.expiresAt)}`].join('\t'));
      }
    });
    return;
  }
  if (sub === 'revoke') {
    const { positionals } = parse(rest, {}, 1, 'key ID');
    await withServices(loadConfig(), async (services) => {
      const key = await services.apiKeys.revoke(positionals[0]!.slice(0, 64), COMMAND_LINE);
      out(`Revoked API key ${visibleLine(key.name)} (${key.id}).`);
    });
    return;
  }
  throw new UsageError(`unknown apikeys command "${sub ?? ''}" (create, list, revoke)`);
}

async function run(argv: string[], out: (line: string) => void): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE);
    if (command === undefined) throw new UsageError('missing command');
    return;
  }
  if (command === 'serve') {
    parse(argv.slice(1), {}, 0);
    return serve(loadConfig());
  }
  if (command === 'migrate') {
    parse(argv.slice(1), {}, 0);
    const config = loadConfig();
    const db = openDatabase(config.database);
    try {
      const applied = await migrateToLatest(db);
      out(applied.length === 0 ? 'The database schema is up to date.' : `Applied ${applied.length} migration(s): ${applied.join(', ')}`);
    } finally {
      await db.destroy();
    }
    return;
  }
  if (command === 'keys') {
    if (sub !== 'rotate') throw new UsageError('expected: keys rotate');
    parse(rest, {}, 0);
    const config = loadConfig();
    await withServices(config, async (services) => {
      const { kid, retired } = await signingKeysOf(services, loadSecret(config.secret, config.dataDir)).rotate(COMMAND_LINE);
      out(
        retired.length === 0
          ? `New signing key ${kid}: there was none before, it signs from now on.`
          : `New signing key ${kid}: published now, signing in ${PUBLISH_LEAD_MS / 60_000} minutes (running servers read keys every minute); ` +
              `${retired.length} older key(s) stay published until their tokens have expired.`,
      );
    });
    return;
  }
  if (command === 'users') {
    if (sub === 'add') {
      const { values } = parse(
        rest,
        { email: { type: 'string' }, name: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' }, admin: { type: 'boolean' }, language: { type: 'string' } },
        0,
      );
      if (typeof values.email !== 'string' || typeof values.name !== 'string') throw new UsageError('users add needs --email and --name');
      if (typeof values.password === 'string' && values['password-stdin']) throw new UsageError('give --password-stdin or --password, not both');
      if (typeof values.password === 'string') {
        // Still accepted for old scripts, but the password is in the shell's history and in `ps` while this runs.
        process.stderr.write('latchkey: warning: --password leaves the password in shell history and the process list; use --password-stdin\n');
      }
      const password = values['password-stdin'] ? await readPassword() : typeof values.password === 'string' ? values.password : null;
      await withServices(loadConfig(), async (services) => {
        const input = { email: values.email as string, name: values.name as string, password, role: values.admin ? ('admin' as const) : ('user' as const), language: typeof values.language === 'string' ? values.language : null };
        const { user, invited } = await services.addresses.createUser(input, COMMAND_LINE, 'cli');
        const validity = describeDuration(services.config.invitationTtlSeconds);
        const how = password ? '' : invited ? `: an invitation to choose one was sent (its link is valid for ${validity})` : ': its address cannot receive mail, so set one first';
        out(`Created ${user.role === 'admin' ? 'administrator' : 'user'} ${visibleLine(user.name)} <${visibleLine(user.email)}>${password ? '' : ' without a password'}${how}.`);
        // Deliver now when the server is not running; a running server's worker would do it too.
        if (invited) await services.worker.drain();
      });
      return;
    }
    if (sub === 'list') {
      const { values } = parse(rest, { search: { type: 'string' } }, 0);
      await withServices(loadConfig(), async (services) => {
        const list = await services.users.search(typeof values.search === 'string' ? values.search : undefined, 10_000);
        if (list.length === 0) return out('No users.');
        for (const user of list) {
          const lastLogin = user.last_login_at ? new Date(user.last_login_at).toISOString() : 'never logged in';
          // Names are typed by people: written out so that none can move the terminal's cursor or colour its text.
          out([visibleLine(user.email), visibleLine(user.name), user.role === 'admin' ? 'Administrator' : 'User', isInvited(user) ? 'Invited' : user.status === 'active' ? 'Active' : 'Archived', lastLogin].join('\t'));
        }
      });
      return;
    }
    if (sub === 'resend-invitation' || sub === 'confirm-email') {
      const { positionals } = parse(rest, {}, 1);
      await withServices(loadConfig(), async (services) => {
        const user = await findUser(services, positionals[0]!);
        if (sub === 'resend-invitation') {
          await services.addresses.resendInvitation(user.id, COMMAND_LINE, 'cli');
          out(`Invitation sent to ${user.email}.`);
        } else {
          await services.addresses.askToConfirm(user.id, COMMAND_LINE, 'cli');
          out(`A request to confirm the address was sent to ${user.email}.`);
        }
        await services.worker.drain();
      });
      return;
    }
    if (sub === 'send-reset' || sub === 'reset-link') {
      const { positionals } = parse(rest, {}, 1);
      await withServices(loadConfig(), async (services) => {
        const user = await findUser(services, positionals[0]!);
        if (sub === 'send-reset') {
          await services.recovery.sendInstructions(user.id, COMMAND_LINE, 'cli');
          out(`Password reset instructions queued for ${user.email}.`);
          // Deliver now when the server is not running; a running server's worker would do it too.
          await services.worker.drain();
        } else {
          const { link } = await services.recovery.linkForHand(user.id, COMMAND_LINE);
          out(link);
        }
      });
      return;
    }
    if (sub === 'remove-two-step') {
      const { positionals } = parse(rest, {}, 1);
      await withServices(loadConfig(), async (services) => {
        const user = await findUser(services, positionals[0]!);
        await services.twoStep.removeByAdministrator(user, COMMAND_LINE, 'command line');
        out(`Two-step verification removed from ${user.email}; every session of the user ended.`);
        await services.worker.drain();
      });
      return;
    }
    if (sub === 'import') {
      const { values, positionals } = parse(rest, { format: { type: 'string' }, 'all-or-nothing': { type: 'boolean' } }, 1, 'file');
      const file = positionals[0]!;
      const format = pickFormat(values.format, file, null);
      await withServices(loadConfig(), (services) => importUsers(services, { file, format, allOrNothing: values['all-or-nothing'] === true }, out));
      return;
    }
    if (sub === 'export') {
      const { values } = parse(rest, { output: { type: 'string' }, format: { type: 'string' }, 'with-hashes': { type: 'boolean' } }, 0);
      const output = typeof values.output === 'string' ? values.output : null;
      const format = pickFormat(values.format, output, 'csv');
      await withServices(loadConfig(), (services) => exportUsers(services, { output, format, withHashes: values['with-hashes'] === true }, out));
      return;
    }
    throw new UsageError(`unknown users command "${sub ?? ''}" (add, list, send-reset, reset-link, remove-two-step, import, export)`);
  }
  if (command === 'apps') {
    await runApps(sub, rest, out);
    return;
  }
  if (command === 'apikeys') {
    await runApiKeys(sub, rest, out);
    return;
  }
  if (command === 'db' && sub === 'copy') {
    const { values } = parse(rest, { to: { type: 'string' }, from: { type: 'string' } }, 0);
    if (typeof values.to !== 'string') throw new UsageError('db copy needs --to postgres://…');
    const from = typeof values.from === 'string' ? values.from : undefined;
    const note = (line: string) => process.stderr.write(line + '\n');
    return copyInstallation({ to: values.to, from, config: loadConfig(), out, note });
  }
  if (command === 'mail' && sub === 'test') {
    const { positionals } = parse(rest, {}, 1);
    const to = normalizeEmail(positionals[0]!);
    const config = loadConfig();
    await withServices(config, async (services) => {
      const servers = await services.mailServers.endpoints();
      if (servers.length === 0) {
        throw new UserError('no outgoing mail server is configured (set LATCHKEY_SMTP_URL or add one under Outgoing Mail Servers); mail goes to the development mailbox');
      }
      const mail = renderMail({ template: 'test', params: {} }, null, { baseUrl: config.baseUrl });
      const failures: string[] = [];
      for (const server of servers) {
        const result = await sendTestEmail(server.endpoint, { from: server.from ?? config.mailFrom, to, ...mail }, config.dkim);
        if (result.ok) return out(`Test email accepted by ${describeEndpoint(server.endpoint).label} (${server.label}): ${result.reply}`);
        failures.push(`${server.label}: ${result.message}`);
      }
      throw new UserError(failures.join(' | '));
    });
    return;
  }
  throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(' ')}"`);
}

try {
  await run(process.argv.slice(2), (line) => process.stdout.write(line + '\n'));
} catch (error) {
  if (error instanceof UsageError || error instanceof TransferUsageError) {
    // Messages quote what was typed: written out on one line, so a typed line break or escape sequence stays inert.
    process.stderr.write(`latchkey: ${visibleLine(error.message)}\nRun "latchkey help" for the list of commands.\n`);
    process.exitCode = 2;
  } else if (error instanceof UserError || error instanceof ConfigError) {
    process.stderr.write(`latchkey: ${visibleLine(error.message)}\n`);
    process.exitCode = 1;
  } else {
    const e = error as Error & { code?: string };
    process.stderr.write(`latchkey: ${e.code === 'EADDRINUSE' ? 'the port is already in use (set LATCHKEY_PORT)' : visibleLine(e.message.split('\n')[0]!)}\n`);
    process.exitCode = 1;
  }
}
