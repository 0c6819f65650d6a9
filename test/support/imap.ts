// A minimal IMAP4rev1 server for tests (one user, one INBOX, no TLS): enough for an IMAP client to log in, read and delete.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestImapServer {
  port: number;
  /** The messages in INBOX, oldest first. */
  messages: Array<{ uid: number; raw: Buffer; flags: Set<string> }>;
  add(raw: string): void;
  close(): Promise<void>;
}

/** The IMAP words of a command line: atoms, "quoted strings" and (lists) kept as written. */
function words(line: string): string[] {
  const out: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)/g;
  for (const match of line.matchAll(pattern)) out.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? match[3]!));
  return out;
}

/** The numbers a sequence set names ("1:3,5", "2:*") among 1..max. */
function sequence(set: string, max: number): Set<number> {
  const numbers = new Set<number>();
  for (const part of set.split(',')) {
    const [from, to = from] = part.split(':').map((n) => (n === '*' ? max : Number(n))) as [number, number?];
    for (let n = Math.min(from, to!); n <= Math.max(from, to!); n++) numbers.add(n);
  }
  return numbers;
}

export async function startImapServer(user: string, password: string): Promise<TestImapServer> {
  const messages: TestImapServer['messages'] = [];
  let nextUid = 1;
  const sockets = new Set<Socket>();
  const capabilities = 'IMAP4rev1 UIDPLUS';

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let authenticated = false;
    const send = (text: string | Buffer) => socket.write(text);
    send(`* OK [CAPABILITY ${capabilities}] test IMAP server ready\r\n`);

    const fetchLine = (seq: number) => {
      const message = messages[seq - 1]!;
      send(`* ${seq} FETCH (UID ${message.uid} FLAGS (${[...message.flags].join(' ')}) BODY[] {${message.raw.length}}\r\n`);
      send(message.raw);
      send(')\r\n');
    };

    const handle = (line: string) => {
      const [tag = '*', rawCommand = '', ...args] = words(line);
      let command = rawCommand.toUpperCase();
      let byUid = false;
      if (command === 'UID') {
        byUid = true;
        command = (args.shift() ?? '').toUpperCase();
      }
      const ok = (text = `${command} completed`) => send(`${tag} OK ${text}\r\n`);
      // The messages a set names: by sequence number, or by UID.
      const chosen = (set: string): number[] => {
        if (!byUid) return [...sequence(set, messages.length)].filter((n) => n >= 1 && n <= messages.length);
        const uids = sequence(set, nextUid - 1);
        return messages.flatMap((message, index) => (uids.has(message.uid) ? [index + 1] : []));
      };
      switch (command) {
        case 'CAPABILITY':
          send(`* CAPABILITY ${capabilities}\r\n`);
          return ok();
        case 'NOOP':
          return ok();
        case 'LOGIN':
          if (args[0] !== user || args[1] !== password) return send(`${tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n`);
          authenticated = true;
          return ok(`[CAPABILITY ${capabilities}] Logged in`);
        case 'LOGOUT':
          send('* BYE logging out\r\n');
          ok();
          return socket.end();
      }
      if (!authenticated) return send(`${tag} NO Log in first\r\n`);
      switch (command) {
        case 'LIST':
          if (args[1] === '') send('* LIST (\\Noselect) "/" ""\r\n');
          else send('* LIST (\\HasNoChildren) "/" INBOX\r\n');
          return ok();
        case 'SELECT':
        case 'EXAMINE':
          if ((args[0] ?? '').toUpperCase() !== 'INBOX') return send(`${tag} NO No such mailbox\r\n`);
          send(`* FLAGS (\\Seen \\Deleted)\r\n* ${messages.length} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT ${nextUid}] next\r\n`);
          return ok(`[READ-WRITE] ${command} completed`);
        case 'FETCH':
          for (const seq of chosen(args[0] ?? '')) fetchLine(seq);
          return ok();
        case 'STORE': {
          const [set = '', change = '', ...flags] = args;
          const list = flags.join(' ').replace(/[()]/g, '').split(/\s+/).filter(Boolean);
          for (const seq of chosen(set)) {
            const message = messages[seq - 1]!;
            for (const flag of list) change.startsWith('-') ? message.flags.delete(flag) : message.flags.add(flag);
            if (!change.toUpperCase().endsWith('.SILENT')) send(`* ${seq} FETCH (UID ${message.uid} FLAGS (${[...message.flags].join(' ')}))\r\n`);
          }
          return ok();
        }
        case 'EXPUNGE': {
          const among = byUid ? new Set(chosen(args[0] ?? '')) : null;
          for (let seq = messages.length; seq >= 1; seq--) {
            if (messages[seq - 1]!.flags.has('\\Deleted') && (!among || among.has(seq))) {
              messages.splice(seq - 1, 1);
              send(`* ${seq} EXPUNGE\r\n`);
            }
          }
          return ok();
        }
        case 'CLOSE':
        case 'UNSELECT':
          return ok();
        default:
          return send(`${tag} BAD Unknown command\r\n`);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      let end: number;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        handle(line);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    add(raw: string) {
      messages.push({ uid: nextUid++, raw: Buffer.from(raw.replace(/\r?\n/g, '\r\n')), flags: new Set() });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
