// `latchkey users import FILE` and `latchkey users export`: read or write the file, call the transfer services, show progress.
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import { UserError } from '../infra/errors.ts';
import { visibleLine } from '../infra/text.ts';
import { COMMAND_LINE } from '../modules/audit/audit.ts';
import { formatExportedUser, formatOfFileName, csvHeader, parseTransferFile, TransferFileError, TRANSFER_FORMATS, type TransferFormat } from '../modules/transfer/formats.ts';
import type { Services } from '../services.ts';

/** Wrong usage of an import or export: the caller turns it into exit code 2. */
export class TransferUsageError extends Error {}

/** --format, or what the file's name implies; `fallback` when neither says. */
export function pickFormat(given: unknown, file: string | null, fallback: TransferFormat | null): TransferFormat {
  if (typeof given === 'string') {
    if (!(TRANSFER_FORMATS as readonly string[]).includes(given)) throw new TransferUsageError(`--format must be csv or jsonl, not "${given}"`);
    return given as TransferFormat;
  }
  const implied = file && file !== '-' ? formatOfFileName(file) : null;
  if (implied) return implied;
  if (fallback) return fallback;
  throw new TransferUsageError(`cannot tell the format of "${file}" from its name: give --format csv or --format jsonl`);
}

/**
 * Progress on stderr: a bar with rate and time left at a terminal, else a plain line at most every two seconds
 * and at the end (a log file or CI keeps a few lines, not thousands).
 */
function progressReporter(what: string): { update(done: number, total: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    // Loaded here: `latchkey serve` shares this module's importer and never draws a bar.
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${what} [{bar}] {percentage}% | {value}/{total} | {rate}/s | {eta_formatted} left`, hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    const started = performance.now();
    let begun = false;
    return {
      update(done, total) {
        const rate = Math.round(done / Math.max(0.001, (performance.now() - started) / 1000));
        if (!begun) bar.start(total, 0, { rate: 0 });
        begun = true;
        bar.update(done, { rate });
      },
      stop: () => (begun ? bar.stop() : undefined),
    };
  }
  const started = performance.now();
  let lastLine = 0;
  let last: [number, number] | null = null;
  const print = (done: number, total: number) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = done / Math.max(0.001, seconds);
    const left = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    process.stderr.write(`${what}: ${done} of ${total} (${Math.round(rate)}/s, ${done < total ? `about ${left} s left` : `${seconds.toFixed(1)} s`})\n`);
    lastLine = performance.now();
  };
  return {
    update(done, total) {
      last = [done, total];
      if (performance.now() - lastLine >= 2000 && done < total) print(done, total);
    },
    stop: () => (last ? print(...last) : undefined),
  };
}

/** Standard input to its end (a pipe or a socket, which /dev/stdin cannot always be opened on). */
async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function importUsers(
  services: Services,
  options: { file: string; format: TransferFormat; allOrNothing: boolean },
  out: (line: string) => void,
): Promise<void> {
  let text: string;
  try {
    text = options.file === '-' ? await readStandardInput() : await readFile(options.file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read ${options.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let rows;
  try {
    rows = parseTransferFile(text, options.format);
  } catch (error) {
    if (error instanceof TransferFileError) throw new UserError(`${options.file}: ${error.message}`);
    throw error;
  }
  const progress = progressReporter('import');
  let report;
  try {
    report = await services.userImport.run(rows, {
      actor: COMMAND_LINE,
      allOrNothing: options.allOrNothing,
      source: options.file === '-' ? 'standard input' : options.file,
      onProgress: (written, total) => progress.update(written, total),
    });
  } finally {
    progress.stop();
  }
  for (const row of report.rows) if (row.reason) out(`line ${row.line}: ${visibleLine(row.reason)}`);
  const refusedWhole = report.refused > 0;
  out(`Created ${report.created}, skipped ${report.skipped}, refused ${report.refused}${refusedWhole ? ' (--all-or-nothing: nothing was written)' : ''}.`);
  if (report.created !== rows.length) {
    throw new UserError(refusedWhole ? 'the import was refused: fix the rows above and run it again' : `${report.skipped} row(s) were not imported`);
  }
}

/** Writes to the stream, waiting when it asks to: the export's memory stays one page, however many users. */
async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

export async function exportUsers(
  services: Services,
  options: { output: string | null; format: TransferFormat; withHashes: boolean },
  out: (line: string) => void,
): Promise<void> {
  // A file of hashes is a secret: readable by its owner only.
  const stream = options.output ? createWriteStream(options.output, { mode: 0o600 }) : process.stdout;
  if (options.output) await once(stream, 'open').catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`cannot write ${options.output}: ${error.code ?? error.message}`);
  });
  const total = options.output ? await services.users.count() : 0;
  const progress = options.output ? progressReporter('export') : null;
  let count = 0;
  try {
    if (options.format === 'csv') await write(stream, csvHeader(options.withHashes));
    for await (const user of services.userExport.users({ withHashes: options.withHashes })) {
      await write(stream, formatExportedUser(user, options.format, options.withHashes));
      count++;
      if (count % 1000 === 0) progress?.update(count, Math.max(total, count));
    }
    progress?.update(count, count);
  } finally {
    progress?.stop();
    if (options.output) {
      stream.end();
      await once(stream, 'close');
    }
  }
  await services.userExport.recordExport(COMMAND_LINE, { users: count, withHashes: options.withHashes, format: options.format });
  if (options.output) out(`Exported ${count} user(s) to ${options.output}${options.withHashes ? ' with their password hashes: keep the file secret' : ''}.`);
}
