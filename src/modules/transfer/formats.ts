// The files users move in and out with: CSV (RFC 4180, a header row) and JSON lines, each row with its line number.

/** The columns of an import or export file, in the order an export writes them. */
export const TRANSFER_COLUMNS = ['name', 'email', 'role', 'status', 'password_hash'] as const;
export type TransferColumn = (typeof TRANSFER_COLUMNS)[number];

export type TransferFormat = 'csv' | 'jsonl';
export const TRANSFER_FORMATS: readonly TransferFormat[] = ['csv', 'jsonl'];

/** The format a file's name implies: .csv, or .jsonl / .ndjson; null when it implies none. */
export function formatOfFileName(file: string): TransferFormat | null {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return null;
}

/** A row as read from a file: its first line, and its fields by column, or why it could not be read at all. */
export type ParsedRow = { line: number; fields: Record<string, unknown> } | { line: number; problem: string };

/** A whole file could not be read (no header, an unknown column): one line for a person. */
export class TransferFileError extends Error {}

export function parseTransferFile(text: string, format: TransferFormat): ParsedRow[] {
  return format === 'csv' ? parseCsv(text) : parseJsonLines(text);
}

function parseJsonLines(text: string): ParsedRow[] {
  const rows: ParsedRow[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const source = lines[i]!.replace(/\r$/, '');
    if (source.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch {
      rows.push({ line, problem: 'not valid JSON' });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) rows.push({ line, problem: 'not a JSON object' });
    else rows.push({ line, fields: value as Record<string, unknown> });
  }
  return rows;
}

/** Records of RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. Each with the line it starts on. */
function csvRecords(text: string): Array<{ line: number; cells: string[]; unterminated?: true }> {
  const records: Array<{ line: number; cells: string[]; unterminated?: true }> = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let startLine = 1;
  let quoted = false;
  let afterQuote = false;
  let any = false;
  const endRecord = () => {
    cells.push(cell);
    // A line with nothing on it is no record (a trailing newline, a blank line between rows).
    if (any || cells.length > 1 || cell !== '') records.push({ line: startLine, cells });
    cells = [];
    cell = '';
    any = false;
    afterQuote = false;
  };
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else {
          quoted = false;
          afterQuote = true;
        }
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === '"' && cell === '' && !afterQuote) {
      quoted = true;
      any = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
      afterQuote = false;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      cell += c;
      any = true;
    }
  }
  if (quoted) {
    cells.push(cell);
    records.push({ line: startLine, cells, unterminated: true });
  } else if (any || cells.length > 0 || cell !== '') endRecord();
  return records;
}

function parseCsv(text: string): ParsedRow[] {
  const records = csvRecords(text);
  const header = records.shift();
  if (!header) throw new TransferFileError('the file is empty: a CSV file starts with a header row (name,email,role,status,password_hash)');
  const columns = header.cells.map((cell) => cell.trim().toLowerCase());
  for (const column of columns) {
    if (!(TRANSFER_COLUMNS as readonly string[]).includes(column)) {
      throw new TransferFileError(`line ${header.line}: the header names an unknown column "${column}" (known: ${TRANSFER_COLUMNS.join(', ')})`);
    }
  }
  if (new Set(columns).size !== columns.length) throw new TransferFileError(`line ${header.line}: the header names a column twice`);
  if (!columns.includes('email')) throw new TransferFileError(`line ${header.line}: the header has no "email" column`);
  return records.map((record): ParsedRow => {
    if (record.unterminated) return { line: record.line, problem: 'a quoted field is never closed' };
    if (record.cells.length !== columns.length) return { line: record.line, problem: `${record.cells.length} fields where the header has ${columns.length}` };
    return { line: record.line, fields: Object.fromEntries(columns.map((column, i) => [column, fromCsvField(column, record.cells[i]!)])) };
  });
}

/** One user as a line of the export: CSV (with a header first) or a JSON object per line. */
export interface ExportedUser {
  name: string;
  email: string;
  role: string;
  status: string;
  password_hash?: string | null;
}

export function csvHeader(withHashes: boolean): string {
  return `${TRANSFER_COLUMNS.filter((column) => withHashes || column !== 'password_hash').join(',')}\r\n`;
}

// A cell a spreadsheet would run as a formula. The export gives such a name or email a leading apostrophe (shown as
// text, never evaluated), and the import takes it off again, so a file goes round unchanged.
const FORMULA_START = /^[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/;
const NEUTRALIZED = /^'[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/;

function csvField(value: string): string {
  const neutral = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n']/.test(neutral) || neutral !== neutral.trim() ? `"${neutral.replaceAll('"', '""')}"` : neutral;
}

function fromCsvField(column: string, value: string): string {
  return (column === 'name' || column === 'email') && NEUTRALIZED.test(value) ? value.slice(1) : value;
}

export function formatExportedUser(user: ExportedUser, format: TransferFormat, withHashes: boolean): string {
  if (format === 'jsonl') return `${JSON.stringify(withHashes ? { ...user, password_hash: user.password_hash ?? null } : { name: user.name, email: user.email, role: user.role, status: user.status })}\n`;
  const fields = [user.name, user.email, user.role, user.status, ...(withHashes ? [user.password_hash ?? ''] : [])];
  return `${fields.map(csvField).join(',')}\r\n`;
}
