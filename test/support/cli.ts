// `latchkey …` as a real process, the way a person runs it: in a shell without Latchkey settings of its own, its
// output read whole. Never blocks the event loop, so a server the test started (SMTP, the app) can answer it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from './net.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The LATCHKEY_* settings (and anything else) of the shell; the test runner's own are never passed on. */
  env?: Record<string, string>;
  /** Typed at the prompt: stdin is a pipe that ends after it. Without it, stdin is closed. */
  input?: string;
  /** "sources" runs src/cli/main.ts through tsx, as during development; "build" runs bin/latchkey.js after `npm run build`. */
  from?: 'sources' | 'build';
  /** Killed after this long, so a hung command fails its test instead of the run. */
  timeoutMs?: number;
}

/** Any command line to its end. */
export function runCommand(command: string[], options: Omit<RunOptions, 'from'> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { input } = options;
    const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: cleanEnv(options.env ?? {}), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The command line that runs `latchkey` from the sources or from the build. */
export function latchkeyCommand(from: RunOptions['from'] = 'sources'): string[] {
  return from === 'build' ? [process.execPath, 'bin/latchkey.js'] : [process.execPath, '--import', 'tsx', 'src/cli/main.ts'];
}

/** `latchkey ARGS` to its end. */
export function latchkey(args: string[], options: RunOptions = {}): Promise<Run> {
  return runCommand([...latchkeyCommand(options.from), ...args], options);
}
