// Reads a password for `users add --password-stdin`: from a pipe (its first line) or typed at a terminal without
// echo, so it never sits in shell history or in the process list.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { UserError } from '../infra/errors.ts';

/** More than any policy allows: the rest of a pipe is not read into memory. */
const MAX_BYTES = 4096;

export async function readPassword(input: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (input.isTTY) {
    const first = await ask('Password: ', input, prompt);
    const second = await ask('Confirm password: ', input, prompt);
    if (first !== second) throw new UserError('the two passwords differ');
    if (first === '') throw new UserError('no password typed');
    return first;
  }
  let data = '';
  for await (const chunk of input.setEncoding('utf8')) {
    data += chunk as string;
    if (Buffer.byteLength(data) > MAX_BYTES || data.includes('\n')) break;
  }
  const password = data.split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UserError('--password-stdin: standard input is empty; pipe the password in, e.g. `printf %s "$PW" | latchkey users add …`');
  return password;
}

/** A question whose answer is not echoed: readline writes to a stream that drops everything. */
async function ask(question: string, input: NodeJS.ReadStream, prompt: NodeJS.WriteStream): Promise<string> {
  prompt.write(question);
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const reader = createInterface({ input, output: silent, terminal: true });
  try {
    return await new Promise<string>((resolve) => reader.question('', resolve));
  } finally {
    reader.close();
    prompt.write('\n');
  }
}
