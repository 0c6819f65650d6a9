// What the fuzz test (test/fuzz.test.ts) is built from: hostile text and bytes, the app's routes, a journal of
// every write to the tables a refused request must not touch, and what a leaked internal looks like.
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import { dialectOf, type Db } from '../../src/infra/db.ts';
import type { CliCase, CliResult } from './fuzz-cli-worker.ts';

/** The seed of every property: fixed, so a run is repeatable; FUZZ_SEED=<n> explores (or replays) another. */
export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261208;

// ---------------------------------------------------------------------------------------------------------
// What must never reach a person: stack frames, source paths, error classes and codes, SQL.

const INTERNALS: Array<[string, RegExp]> = [
  ['a stack frame', /^\s*at .*(?::\d+:\d+\)?|\(native\)|<anonymous>\)?)\s*$/m],
  ['a source path', /\/src\/|node_modules|\.[cm]?[jt]s:\d+|file:\/\//],
  ['an error class', /\b(?:TypeError|RangeError|ReferenceError|SyntaxError|EvalError|URIError|AggregateError|SqliteError|DatabaseError|AssertionError)\b/],
  ['an error code', /\b(?:FST_[A-Z_]{3,}|ERR_[A-Z_]{3,}|SQLITE_[A-Z_]+)\b/],
  ['a JavaScript error message', /Cannot read properties of|is not a function|is not iterable|Maximum call stack|Cannot convert (?:undefined|null|object)|Invalid array length|Invalid time value/],
  [
    'SQL',
    /\b(?:select\s[^<>]{0,120}?\bfrom\s+"?[a-z_]+"?\s+(?:where|order by|limit|inner join|left join)\b|insert\s+into\s+"?[a-z_]+"?\s*\(|update\s+"?[a-z_]+"?\s+set\s+"?[a-z_]+"?\s*=|delete\s+from\s+"?[a-z_]+"?\s+where\b|UNIQUE constraint failed|violates [a-z -]+constraint|syntax error at or near|no such (?:table|column))/i,
  ],
];

/** The first internal detail in a text a person would see, named, with a little context; null when clean. */
export function leakedInternal(text: string): string | null {
  for (const [what, pattern] of INTERNALS) {
    const match = pattern.exec(text);
    if (match) return `${what}: …${text.slice(Math.max(0, match.index - 60), match.index + match[0].length + 60)}…`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Hostile text.

const CONTROL = [...Array(32).keys()].map((code) => String.fromCharCode(code));
const ODD = ['\x7f', '\u0085', '\u00a0', '\u200b', '\u200e', '\u202e', '\u2066', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udfff', '😀', 'é', 'ß', 'İ', 'ﬀ'];

/** Values that broke parsers somewhere once: percent signs, numbers that are not, prototype keys, markup. */
export const NASTY = [
  '', ' ', '  padded  ', '%', '%%', '%E0%A4%A', '%e0%a4', '%zz', '%00', '%0a', '%0d%0a', '%ff', '%c0%af', '%u0041', '%25', '+', '&', '=',
  '&=&=', ';', ',', '"', "'", '`', '\\', '/', '//evil.example', '/\\evil.example', 'http://evil.example/', 'javascript:alert(1)',
  '../../etc/passwd', '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' OR '1'='1", "1'; --", '0', '-1', '1.5',
  '1e309', '-0', 'NaN', 'Infinity', '0x10', '9007199254740993', '99999999999999999999999', 'null', 'undefined', 'true', 'false',
  '[]', '{}', '[object Object]', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '\r\nSet-Cookie: x=1',
  '\u0000', 'a\u0000b', 'ＡＤＭＩＮ@ＥＸＡＭＰＬＥ.ＣＯＭ', 'user@exa\u202emple.com', 'a@b', '@', 'a@', '@b', 'a@@b.c', 'x'.repeat(64) + '@example.com',
  '2026-01-31', '2026-02-30', '0000-00-00', '9999-12-31', '2026-1-1', ' 2026-01-31',
];

/** Text of every kind: any code point (lone surrogates too), controls, the nasty list, and very long strings. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...CONTROL, ...ODD, 'a', 'A', '1', '%', '&', '=', '+', '[', ']', '.', '@'), maxLength: 20 }) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', 'é', '%', '%E0', '\u0000', '😀', '<b>', 'a@b.c ', '\ud800'),
        fc.constantFrom(101, 201, 255, 256, 301, 321, 501, 601, 1025, 4097, 8193, 16385, 40000),
      )
      .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length)),
  },
);

/** A value for a field: usually the field's plausible values (so the happy paths run too), else hostile text. */
export function fieldValue(plausible: string[]): fc.Arbitrary<string> {
  return plausible.length > 0 ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...plausible) }, { weight: 3, arbitrary: hostileText }) : hostileText;
}

/** A field name: a real one, a real one in bracket or array form, a prototype key, or hostile text. */
export function fieldName(names: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...names), fc.constantFrom('[]', '[0]', '[a]', '[__proto__]', '[][]', '.x', '[')).map(([name, suffix]) => name + suffix) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', '__proto__[x]', 'constructor[prototype][x]', 'hasOwnProperty', 'toString', '') },
    { weight: 1, arbitrary: hostileText },
  );
}

export type Encoding = 'percent' | 'raw' | 'latin1' | 'broken';
export const ENCODINGS: Encoding[] = ['percent', 'percent', 'percent', 'raw', 'latin1', 'broken'];

/** One name or value as it goes into a query string or form body. */
export function encodePart(text: string, encoding: Encoding): string {
  const bytes = (buffer: Buffer) => [...buffer].map((byte) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
  if (encoding === 'raw') return text;
  if (encoding === 'latin1') return bytes(Buffer.from(text, 'latin1'));
  const encoded = bytes(Buffer.from(text, 'utf8'));
  return encoding === 'broken' ? `${encoded}%E0%A4%A` : encoded;
}

export function encodePairs(pairs: Array<[string, string]>, encoding: Encoding): string {
  return pairs.map(([name, value]) => `${encodePart(name, encoding)}=${encodePart(value, encoding)}`).join('&');
}

/** Text as it can arrive in a header: Node reads header bytes as latin1 and refuses CR, LF, NUL and other controls. */
export function headerText(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
}

// ---------------------------------------------------------------------------------------------------------
// The app's routes, from Fastify's own table, so a page added later is fuzzed without anyone listing it.

export interface Route {
  method: string;
  path: string;
}

export function routesOf(app: FastifyInstance): Route[] {
  const stack: string[] = [];
  const routes: Route[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│├└─ ]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (depth > 1 ? stack[depth - 2] : '') + match[2]!;
    stack[depth - 1] = path;
    stack.length = depth;
    for (const method of match[3]!.split(', ')) routes.push({ method, path });
  }
  return routes;
}

/** The path with each `:param` replaced, in order, by the values given (already encoded). */
export function fillPath(path: string, values: string[]): string {
  let index = 0;
  return path.replace(/:[A-Za-z_]+/g, () => values[index++ % values.length]!);
}

/** Field names, values and query parameter names a page offers: its form fields, options and links. */
export function formVocabulary(html: string): { names: Set<string>; values: Set<string> } {
  const names = new Set<string>();
  const values = new Set<string>();
  const unescape = (text: string) => text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  for (const match of html.matchAll(/\bname="([^"]{1,60})"/g)) names.add(unescape(match[1]!));
  for (const match of html.matchAll(/\bvalue="([^"]{0,80})"/g)) values.add(unescape(match[1]!));
  for (const match of html.matchAll(/\bhref="[^"?]*\?([^"]+)"/g)) {
    for (const [name, value] of new URLSearchParams(unescape(match[1]!))) {
      names.add(name);
      values.add(value);
    }
  }
  return { names, values };
}

// ---------------------------------------------------------------------------------------------------------
// The write journal: triggers count every insert, update and delete on the watched tables, so "the database is
// unchanged" is one cheap read and catches changes that counts or maximums would miss.

const JOURNAL = 'fuzz_write_journal';

export class WriteJournal {
  private constructor(
    private readonly db: Db,
    readonly tables: string[],
  ) {}

  /** Installs the journal on every table except those `ignored` (and migrations, search indexes, itself). */
  static async install(db: Db, ignored: RegExp): Promise<WriteJournal> {
    const postgres = dialectOf(db) === 'postgres';
    const all = postgres
      ? (await sql<{ name: string }>`select tablename as name from pg_tables where schemaname = current_schema()`.execute(db)).rows.map((row) => row.name)
      : await sqliteTables(db);
    const tables = all.filter((name) => !ignored.test(name) && !name.startsWith('kysely_') && name !== JOURNAL).sort();
    await sql`create table ${sql.table(JOURNAL)} (tbl varchar(100) primary key, n bigint not null)`.execute(db);
    if (postgres) {
      await sql.raw(`create function ${JOURNAL}_count() returns trigger language plpgsql as $$
        begin update ${JOURNAL} set n = n + 1 where tbl = TG_TABLE_NAME; return null; end $$`).execute(db);
    }
    for (const table of tables) {
      await sql`insert into ${sql.table(JOURNAL)} (tbl, n) values (${table}, 0)`.execute(db);
      if (postgres) {
        await sql.raw(`create trigger ${JOURNAL} after insert or update or delete on "${table}" for each row execute function ${JOURNAL}_count()`).execute(db);
        continue;
      }
      for (const event of ['insert', 'update', 'delete']) {
        await sql.raw(`create trigger "${JOURNAL}_${table}_${event}" after ${event} on "${table}" begin update ${JOURNAL} set n = n + 1 where tbl = '${table}'; end`).execute(db);
      }
    }
    return new WriteJournal(db, tables);
  }

  /** Writes so far, per table, as one comparable string. */
  async read(): Promise<string> {
    const { rows } = await sql<{ tbl: string; n: number | string }>`select tbl, n from ${sql.table(JOURNAL)} order by tbl`.execute(this.db);
    return rows.map((row) => `${row.tbl}:${row.n}`).join(' ');
  }

  /** The tables written between two readings. */
  static changed(before: string, after: string): string[] {
    const counts = new Map(before.split(' ').map((entry) => entry.split(':') as [string, string]));
    return after
      .split(' ')
      .map((entry) => entry.split(':') as [string, string])
      .filter(([table, n]) => counts.get(table) !== n)
      .map(([table]) => table);
  }
}

async function sqliteTables(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string; sql: string | null }>`select name, sql from sqlite_master where type = 'table'`.execute(db);
  const virtual = rows.filter((row) => /^create virtual/i.test(row.sql ?? '')).map((row) => row.name);
  // A virtual table's shadow tables (users_search_data, …) belong to SQLite, not to Latchkey.
  return rows
    .map((row) => row.name)
    .filter((name) => !name.startsWith('sqlite_') && !virtual.some((table) => name === table || name.startsWith(`${table}_`)));
}

// ---------------------------------------------------------------------------------------------------------
// The command line, run in a worker thread (see fuzz-cli-worker.ts).

export class CommandLine {
  private readonly worker: Worker;
  private count = 0;

  constructor() {
    const entry = new URL('./fuzz-cli-worker.ts', import.meta.url).href;
    // The worker registers tsx itself: --import in a worker's execArgv does not load TypeScript on Node 20.
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    this.worker = new Worker(code, { eval: true, execArgv: [], stdin: true, stdout: true, stderr: true });
    // Standard input is empty and closed, as under CI: a command that reads it gets end-of-file at once.
    this.worker.stdin!.end();
    // Anything written outside a captured command is dropped rather than left to fill a buffer.
    this.worker.stdout.resume();
    this.worker.stderr.resume();
  }

  /** Runs one command line; fails when it has not finished within `timeoutMs`. */
  run(argv: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<CliResult> {
    const message: CliCase = { n: this.count++, argv, env };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.worker.off('message', done);
        reject(new Error(`latchkey ${JSON.stringify(argv)} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (result: CliResult) => {
        clearTimeout(timer);
        resolve(result);
      };
      this.worker.once('message', done);
      this.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
