// Unit tests of loadConfig: the embedded defaults, the settings it reads, and a one-line ConfigError naming the variable for each bad one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './config.ts';

let cwd: string;

before(() => {
  cwd = mkdtempSync(path.join(tmpdir(), 'latchkey-config-'));
});
after(() => {
  rmSync(cwd, { recursive: true, force: true });
});

/** Asserts that the settings are refused with a ConfigError on one line that names `variable`. */
function refused(env: Record<string, string>, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env, cwd);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(env)}, got ${String(caught)}`);
  assert.ok(caught.message.includes(variable), `"${caught.message}" names ${variable}`);
  assert.doesNotMatch(caught.message, /[\r\n]/, 'the message is one line');
  return caught;
}

describe('loadConfig: defaults', () => {
  it('with no settings, the server listens on 127.0.0.1:3000 and links point at http://localhost:3000/', () => {
    const config = loadConfig({}, cwd);
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.baseUrl.href, 'http://localhost:3000/');
    assert.equal(config.secureCookies, false);
  });

  it('the database is the SQLite file ./data/latchkey.db, resolved against the working directory', () => {
    const config = loadConfig({}, cwd);
    assert.deepEqual(config.database, { kind: 'sqlite', path: path.join(cwd, 'data', 'latchkey.db') });
    assert.equal(config.dataDir, path.join(cwd, 'data'));
  });

  it('a reset link lives 86400 seconds (24 hours) by default', () => {
    assert.equal(loadConfig({}, cwd).resetTtlSeconds, 86400);
  });

  it('without SMTP settings mail goes to the development mailbox, from Latchkey <no-reply@localhost>', () => {
    const config = loadConfig({}, cwd);
    assert.equal(config.smtpUrl, null);
    assert.equal(config.mailFrom, 'Latchkey <no-reply@localhost>');
    assert.equal(config.admin, null);
    assert.equal(config.secret, null);
  });

  it('the default password policy is 8 to 128 characters with every rule', () => {
    assert.deepEqual(loadConfig({}, cwd).passwordPolicy, {
      minLength: 8,
      maxLength: 128,
      rules: ['upper', 'lower', 'digit', 'special', 'common', 'personal'],
    });
  });

  it('the default base URL follows the port', () => {
    assert.equal(loadConfig({ LATCHKEY_PORT: '8080' }, cwd).baseUrl.href, 'http://localhost:8080/');
  });

  it('empty values count as unset', () => {
    const config = loadConfig({ LATCHKEY_PORT: '', LATCHKEY_RESET_TTL: ' ', LATCHKEY_SMTP_URL: '' }, cwd);
    assert.equal(config.port, 3000);
    assert.equal(config.resetTtlSeconds, 86400);
    assert.equal(config.smtpUrl, null);
  });

  it('the settings come from the env object given, not from process.env', () => {
    const saved = process.env.LATCHKEY_PORT;
    process.env.LATCHKEY_PORT = '4567';
    try {
      assert.equal(loadConfig({}, cwd).port, 3000);
    } finally {
      if (saved === undefined) delete process.env.LATCHKEY_PORT;
      else process.env.LATCHKEY_PORT = saved;
    }
  });

  it('with an explicit env object, a .env file in the working directory does not change it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-config-env-'));
    try {
      writeFileSync(path.join(dir, '.env'), 'LATCHKEY_PORT=4321\n');
      const env: Record<string, string> = {};
      assert.equal(loadConfig(env, dir).port, 3000);
      assert.deepEqual(env, {});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadConfig: settings', () => {
  it('reads every setting it is given', () => {
    const config = loadConfig(
      {
        LATCHKEY_PORT: '8443',
        LATCHKEY_HOST: '0.0.0.0',
        LATCHKEY_BASE_URL: 'https://accounts.example.test/latchkey',
        LATCHKEY_DATABASE_URL: 'sqlite:db/other.db',
        LATCHKEY_SMTP_URL: 'smtp://user:pass@mail.example.test:2525',
        LATCHKEY_MAIL_FROM: 'Accounts <accounts@example.test>',
        LATCHKEY_RESET_TTL: '3600',
        LATCHKEY_ADMIN_EMAIL: 'root@example.test',
        LATCHKEY_ADMIN_PASSWORD: 'Velvet-Harbor-42',
        LATCHKEY_PASSWORD_MIN_LENGTH: '12',
        LATCHKEY_PASSWORD_RULES: 'upper, digit',
      },
      cwd,
    );
    assert.equal(config.port, 8443);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.baseUrl.href, 'https://accounts.example.test/latchkey/', 'the base URL gets a trailing slash');
    assert.equal(config.secureCookies, true, 'an https base URL turns on secure cookies');
    assert.deepEqual(config.database, { kind: 'sqlite', path: path.join(cwd, 'db', 'other.db') });
    assert.equal(config.smtpUrl, 'smtp://user:pass@mail.example.test:2525');
    assert.equal(config.mailFrom, 'Accounts <accounts@example.test>');
    assert.equal(config.resetTtlSeconds, 3600);
    assert.deepEqual(config.admin, { email: 'root@example.test', password: 'Velvet-Harbor-42' });
    assert.equal(config.passwordPolicy.minLength, 12);
    assert.deepEqual(config.passwordPolicy.rules, ['upper', 'digit']);
  });

  it('an absolute sqlite path is kept as it is', () => {
    const file = path.join(cwd, 'abs', 'x.db');
    assert.deepEqual(loadConfig({ LATCHKEY_DATABASE_URL: `sqlite:${file}` }, cwd).database, { kind: 'sqlite', path: file });
  });

  it('LATCHKEY_PASSWORD_RULES=none turns every rule off but the lengths', () => {
    assert.deepEqual(loadConfig({ LATCHKEY_PASSWORD_RULES: 'none' }, cwd).passwordPolicy.rules, []);
  });
});

describe('loadConfig: invalid settings give a one-line ConfigError that names the variable', () => {
  it('LATCHKEY_PORT that is not a number', () => {
    refused({ LATCHKEY_PORT: 'abc' }, 'LATCHKEY_PORT');
  });

  it('LATCHKEY_PORT out of range', () => {
    refused({ LATCHKEY_PORT: '70000' }, 'LATCHKEY_PORT');
  });

  it('a negative LATCHKEY_RESET_TTL', () => {
    refused({ LATCHKEY_RESET_TTL: '-5' }, 'LATCHKEY_RESET_TTL');
  });

  it('a zero or fractional LATCHKEY_RESET_TTL', () => {
    refused({ LATCHKEY_RESET_TTL: '0' }, 'LATCHKEY_RESET_TTL');
    refused({ LATCHKEY_RESET_TTL: '1.5' }, 'LATCHKEY_RESET_TTL');
  });

  it('LATCHKEY_SMTP_URL that is not smtp:// or smtps://', () => {
    refused({ LATCHKEY_SMTP_URL: 'http://x' }, 'LATCHKEY_SMTP_URL');
  });

  it('LATCHKEY_SMTP_URL that is not a URL at all', () => {
    refused({ LATCHKEY_SMTP_URL: 'mail.example.com' }, 'LATCHKEY_SMTP_URL');
  });

  it('LATCHKEY_BASE_URL that is not a URL', () => {
    refused({ LATCHKEY_BASE_URL: 'notaurl' }, 'LATCHKEY_BASE_URL');
  });

  it('LATCHKEY_BASE_URL that is not http or https', () => {
    refused({ LATCHKEY_BASE_URL: 'ftp://files.example.test/' }, 'LATCHKEY_BASE_URL');
  });

  it('LATCHKEY_DATABASE_URL for a database that is not supported', () => {
    refused({ LATCHKEY_DATABASE_URL: 'mysql://root@localhost/latchkey' }, 'LATCHKEY_DATABASE_URL');
  });

  it('LATCHKEY_DATABASE_URL sqlite: without a file', () => {
    refused({ LATCHKEY_DATABASE_URL: 'sqlite:' }, 'LATCHKEY_DATABASE_URL');
  });

  it('an administrator email without a password, or a password without an email', () => {
    const error = refused({ LATCHKEY_ADMIN_EMAIL: 'root@example.test' }, 'LATCHKEY_ADMIN_EMAIL');
    assert.match(error.message, /LATCHKEY_ADMIN_PASSWORD/);
    refused({ LATCHKEY_ADMIN_PASSWORD: 'Velvet-Harbor-42' }, 'LATCHKEY_ADMIN_EMAIL');
  });

  it('LATCHKEY_PASSWORD_RULES with an unknown rule', () => {
    const error = refused({ LATCHKEY_PASSWORD_RULES: 'bogus' }, 'LATCHKEY_PASSWORD_RULES');
    assert.match(error.message, /bogus/);
  });

  it('LATCHKEY_MAIL_FROM that is not an address or spans lines', () => {
    refused({ LATCHKEY_MAIL_FROM: 'not an address' }, 'LATCHKEY_MAIL_FROM');
    refused({ LATCHKEY_MAIL_FROM: 'a@example.test\r\nBcc: b@example.test' }, 'LATCHKEY_MAIL_FROM');
  });

  it('a session that may live less long than it may sit idle', () => {
    refused({ LATCHKEY_SESSION_IDLE_TIMEOUT: '7200', LATCHKEY_SESSION_MAX_AGE: '3600' }, 'LATCHKEY_SESSION_MAX_AGE');
  });

  it('LATCHKEY_PASSWORD_MIN_LENGTH below 8', () => {
    refused({ LATCHKEY_PASSWORD_MIN_LENGTH: '4' }, 'LATCHKEY_PASSWORD_MIN_LENGTH');
  });

  it('LATCHKEY_TRUST_PROXY that is not true or false', () => {
    refused({ LATCHKEY_TRUST_PROXY: 'maybe' }, 'LATCHKEY_TRUST_PROXY');
  });
});

describe('settings the server would otherwise trip over later', () => {
  it('an unknown LATCHKEY_LOG_LEVEL and a malformed LATCHKEY_HOST are refused at start, naming the variable', () => {
    assert.throws(() => loadConfig({ LATCHKEY_LOG_LEVEL: 'verbose' }, tmpdir()), (error: Error) => error instanceof ConfigError && /LATCHKEY_LOG_LEVEL/.test(error.message));
    assert.throws(() => loadConfig({ LATCHKEY_HOST: 'not_a_host' }, tmpdir()), (error: Error) => error instanceof ConfigError && /LATCHKEY_HOST/.test(error.message));
    assert.equal(loadConfig({ LATCHKEY_HOST: '0.0.0.0', LATCHKEY_LOG_LEVEL: 'warn' }, tmpdir()).host, '0.0.0.0');
  });
});

describe('bounce settings', () => {
  it('are off by default: no return path of our own, no listener, no mailbox', () => {
    assert.deepEqual(loadConfig({}, cwd).bounces, { domain: null, listen: null, imap: null });
  });

  it('read the domain, the listener host:port and the mailbox URL with its poll interval', () => {
    const { bounces } = loadConfig(
      {
        LATCHKEY_BOUNCE_DOMAIN: 'Bounces.Example.org',
        LATCHKEY_BOUNCE_LISTEN: '[::1]:2526',
        LATCHKEY_BOUNCE_IMAP_URL: 'imaps://bounce%40example.org:p%40ss@imap.example.org/Bounces',
        LATCHKEY_BOUNCE_IMAP_INTERVAL: '30',
      },
      cwd,
    );
    assert.equal(bounces.domain, 'bounces.example.org');
    assert.deepEqual(bounces.listen, { host: '::1', port: 2526 });
    assert.deepEqual(bounces.imap, {
      host: 'imap.example.org',
      port: 993,
      secure: true,
      requireStartTls: false,
      user: 'bounce@example.org',
      password: 'p@ss',
      mailbox: 'Bounces',
      intervalMs: 30_000,
    });
    assert.equal(loadConfig({ LATCHKEY_BOUNCE_DOMAIN: 'b.example.org', LATCHKEY_BOUNCE_IMAP_URL: 'imap://u:p@mail.example.org' }, cwd).bounces.imap?.requireStartTls, true);
  });

  it('refuse a malformed domain, listener or URL, and receiving without a domain, naming the variable', () => {
    refused({ LATCHKEY_BOUNCE_DOMAIN: 'not a domain' }, 'LATCHKEY_BOUNCE_DOMAIN');
    refused({ LATCHKEY_BOUNCE_DOMAIN: 'b.example.org', LATCHKEY_BOUNCE_LISTEN: '2526' }, 'LATCHKEY_BOUNCE_LISTEN');
    refused({ LATCHKEY_BOUNCE_DOMAIN: 'b.example.org', LATCHKEY_BOUNCE_IMAP_URL: 'https://mail.example.org' }, 'LATCHKEY_BOUNCE_IMAP_URL');
    refused({ LATCHKEY_BOUNCE_LISTEN: '127.0.0.1:2526' }, 'LATCHKEY_BOUNCE_DOMAIN');
  });
});
