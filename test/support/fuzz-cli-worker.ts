// Runs `latchkey` commands in a worker thread for the fuzz test: each message is one command line, run by a
// fresh copy of src/cli/main.ts (imported again under a new query string) with its own argv, environment,
// captured stdout/stderr and exit code, so hundreds of commands cost no process start each.
import { parentPort } from 'node:worker_threads';

export interface CliCase {
  n: number;
  argv: string[];
  env: Record<string, string>;
}

export interface CliResult {
  code: number | string | undefined;
  stdout: string;
  stderr: string;
  /** What main.ts let escape, if anything: it must catch everything itself. */
  thrown: string | null;
  rejections: string[];
}

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;

let rejections: string[] = [];
process.on('unhandledRejection', (reason) => rejections.push(String((reason as Error)?.stack ?? reason)));
process.on('uncaughtException', (error) => rejections.push(String(error?.stack ?? error)));

parentPort!.on('message', async ({ n, argv, env }: CliCase) => {
  let stdout = '';
  let stderr = '';
  const write = process.stdout.write;
  const writeError = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  for (const name of Object.keys(process.env)) if (name.startsWith('LATCHKEY_')) delete process.env[name];
  Object.assign(process.env, env);
  process.argv = [process.execPath, 'latchkey', ...argv];
  process.exitCode = undefined;
  rejections = [];
  let thrown: string | null = null;
  try {
    await import(`${MAIN}?case=${n}`);
    // Let a promise that nobody awaited fail now rather than in the next case.
    await new Promise((resolve) => setTimeout(resolve, 0));
  } catch (error) {
    thrown = String((error as Error)?.stack ?? error);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeError;
  }
  const result: CliResult = { code: process.exitCode ?? 0, stdout, stderr, thrown, rejections };
  process.exitCode = undefined;
  parentPort!.postMessage(result);
});
