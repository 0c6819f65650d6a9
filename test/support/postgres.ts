// A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temporary folder, loopback only, stopped after.
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './net.ts';

export interface PostgresCluster {
  /** A superuser URL to the cluster's `postgres` database. */
  url: string;
  stop(): void;
}

/** The newest PostgreSQL (15 or later) from Debian's packages, or null. */
export function postgresBinaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .map(Number)
    .filter((version) => version >= 15 && existsSync(path.join(root, String(version), 'bin', 'initdb')))
    .sort((a, b) => b - a);
  return versions.length > 0 ? path.join(root, String(versions[0]), 'bin') : null;
}

/** initdb refuses to run as root: as root, the cluster belongs to Debian's `postgres` user. */
function runAs(): string[] {
  if (process.getuid?.() !== 0) return [];
  const found = spawnSync('id', ['-u', 'postgres']);
  if (found.status !== 0) throw new Error('running as root, and there is no "postgres" user to own a PostgreSQL cluster (install Debian\'s postgresql package)');
  return ['runuser', '-u', 'postgres', '--'];
}

/** `durable: true` keeps PostgreSQL's durability settings (fsync and the rest) on, as benchmarks need. */
export async function startPostgresCluster(options: { maxConnections?: number; durable?: boolean } = {}): Promise<PostgresCluster> {
  const bin = postgresBinaries();
  if (!bin) throw new Error('PostgreSQL 15 or later is not installed (Debian: apt-get install postgresql); the PostgreSQL tests cannot run');
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-pg-'));
  chmodSync(dir, 0o777);
  const data = path.join(dir, 'data');
  const prefix = runAs();
  const run = (command: string, args: string[]) => {
    const [program, ...rest] = [...prefix, path.join(bin, command), ...args];
    return execFileSync(program!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync']);
    // Throwaway data: durability settings off unless asked for, so tests measure Latchkey rather than the disk.
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      `-c listen_addresses=127.0.0.1`,
      `-c max_connections=${options.maxConnections ?? 400}`,
      ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
      '-c shared_buffers=128MB',
    ].join(' ');
    run('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
  } catch (error) {
    // A cluster that would not start leaves nothing behind; its log says why.
    const log = path.join(dir, 'server.log');
    const why = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-5).join('\n') : String((error as { stderr?: Buffer }).stderr ?? error);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the throwaway PostgreSQL cluster did not start: ${why}`);
  }
  const stop = () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already stopped.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop };
}

let counter = 0;

/** A new, empty database in the cluster at `adminUrl`; returns its URL. */
export async function createDatabase(adminUrl: string, prefix = 'latchkey'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
