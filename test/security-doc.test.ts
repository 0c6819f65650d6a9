// SECURITY.md keeps its word: every promise names a test that exists under exactly that title, so renaming or
// deleting a test that a promise rests on breaks the build; and every default it states is the one loadConfig gives.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = readFileSync(path.join(ROOT, 'SECURITY.md'), 'utf8');

interface Table {
  heading: string;
  header: string[];
  rows: string[][];
}

/** A table row's cells; `\|` is a pipe inside a cell. */
function cellsOf(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

/** Every Markdown table of the document, with the heading it sits under. */
function tablesOf(markdown: string): Table[] {
  const tables: Table[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    if (!line.startsWith('|') || !/^\|\s*:?-{3,}/.test(lines[i + 1] ?? '')) continue;
    const table: Table = { heading, header: cellsOf(line), rows: [] };
    for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) table.rows.push(cellsOf(lines[i]!));
    tables.push(table);
  }
  return tables;
}

/**
 * The titles of the it()/test() calls of a test file that run and can fail, as the runner shows them (escapes
 * undone, `${…}` kept as written). A test marked todo, or skipped always, fails nobody's build: it does not count.
 */
function testTitles(file: string): Set<string> {
  const source = readFileSync(path.join(ROOT, file), 'utf8');
  const titles = new Set<string>();
  const call = /\b(?:it|test)(\.(?:only|skip|todo))?\(\s*(['"`])((?:\\[\s\S]|(?!\2)[^\\])*)\2/g;
  for (const match of source.matchAll(call)) {
    // The options, if any, sit between the title and the test function.
    const options = source.slice(match.index + match[0].length, source.indexOf('=>', match.index + match[0].length));
    const notRun = /^\.(skip|todo)$/.test(match[1] ?? '') || /\btodo\s*:/.test(options) || /\bskip\s*:\s*true\b/.test(options);
    if (!notRun) titles.add(match[3]!.replace(/\\([\s\S])/g, '$1'));
  }
  return titles;
}

/** A "Checked by" entry: `file` — “title”. */
const ENTRY = /`([^`]+)`\s*—\s*“([^”]+)”/g;

const PROMISE_HEADER = ['Promise', 'Checked by', 'ASVS 5.0.0'];
const promiseTables = tablesOf(DOC).filter((table) => table.header.join('|') === PROMISE_HEADER.join('|'));

describe('SECURITY.md', () => {
  it('says how to report a vulnerability, and has promise tables for every area', () => {
    assert.match(DOC, /^## Reporting a vulnerability$/m);
    assert.match(DOC, /private security advisory/);
    assert.ok(promiseTables.length >= 10, `${promiseTables.length} promise tables`);
    for (const table of promiseTables) assert.ok(table.rows.length > 0, `"${table.heading}" has promises`);
  });

  it('every promise is checked by at least one test, named by its file and exact title', () => {
    const titles = new Map<string, Set<string>>();
    const problems: string[] = [];
    let checked = 0;
    for (const table of promiseTables) {
      for (const row of table.rows) {
        assert.equal(row.length, 3, `a row of "${table.heading}" has three cells: ${row.join(' | ')}`);
        const [promise, checkedBy] = row as [string, string, string];
        const entries = [...checkedBy.matchAll(ENTRY)];
        const rest = checkedBy.replace(ENTRY, '').replace(/<br>/g, '').trim();
        if (entries.length === 0) problems.push(`${table.heading}: "${promise.slice(0, 60)}…" names no test`);
        if (rest !== '') problems.push(`${table.heading}: "${promise.slice(0, 60)}…" has text that is not a test: ${rest}`);
        for (const [, file, title] of entries) {
          checked++;
          if (!/^(src|test)\/.+\.test\.ts$/.test(file!) || !existsSync(path.join(ROOT, file!))) {
            problems.push(`${file}: no such test file (the suite runs src/**/*.test.ts and test/**/*.test.ts)`);
            continue;
          }
          if (!titles.has(file!)) titles.set(file!, testTitles(file!));
          if (!titles.get(file!)!.has(title!)) problems.push(`${file}: no test titled “${title}” (or it is marked todo or always skipped)`);
        }
      }
    }
    assert.deepEqual(problems, [], `SECURITY.md names tests that do not exist:\n${problems.join('\n')}`);
    assert.ok(checked > 0);
  });

  it('every ASVS reference is in the standard\'s own form, v5.0.0-<chapter>.<section>.<requirement>, or "—"', () => {
    for (const table of promiseTables) {
      for (const row of table.rows) {
        const asvs = row[2]!;
        const ids = asvs.match(/\bv\d+\.\d+\.\d+-[\d.]+/g) ?? [];
        if (ids.length === 0) assert.match(asvs, /^—/, `${table.heading}: "${asvs}" names no requirement and is not "—"`);
        for (const id of ids) assert.match(id, /^v5\.0\.0-\d{1,2}\.\d{1,2}\.\d{1,2}$/, `${table.heading}: ${id}`);
      }
    }
  });

  it('every default SECURITY.md states is the default loadConfig gives', () => {
    const defaults = tablesOf(DOC).find((table) => table.header[0] === 'Setting' && table.header[1] === 'Default');
    assert.ok(defaults && defaults.rows.length > 0, 'SECURITY.md has a table of defaults');
    const configSource = readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8');
    const cwd = mkdtempSync(path.join(tmpdir(), 'latchkey-security-doc-'));
    try {
      // A URL becomes its href: compare what the settings say, not object identity.
      const settle = (env: Record<string, string>) => JSON.parse(JSON.stringify(loadConfig(env, cwd))) as unknown;
      const unset = settle({});
      for (const [settingCell, defaultCell] of defaults.rows) {
        const name = /^`(LATCHKEY_[A-Z0-9_]+)`$/.exec(settingCell!)?.[1];
        const value = /^`([^`]*)`/.exec(defaultCell!)?.[1];
        assert.ok(name && value !== undefined, `a row of the defaults names a setting and a value: ${settingCell} | ${defaultCell}`);
        // A misspelt name would be ignored by loadConfig and pass: the name must be one config.ts reads.
        assert.ok(configSource.includes(`'${name}'`) || configSource.includes(`env.${name}`), `src/config.ts reads ${name}`);
        assert.deepEqual(settle({ [name]: value }), unset, `${name}=${value} is what Latchkey does when ${name} is unset`);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
