// The inbound SMTP listener for bounces (smtp-server): takes mail only for return paths of the bounce domain, never relays, limits size.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Logger } from '../../infra/logger.ts';
import { MAX_BOUNCE_BYTES, type Bounces } from './bounces.service.ts';
import type { ReturnPaths } from './return-path.ts';

/** A DSN has one recipient; a few are allowed for servers that batch, no more. */
const MAX_RECIPIENTS = 10;

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export class BounceListener {
  private readonly server: SMTPServer;
  private listening = false;

  constructor(
    private readonly bounces: Bounces,
    returnPaths: ReturnPaths,
    private readonly where: { host: string; port: number },
    private readonly logger: Logger,
  ) {
    this.server = new SMTPServer({
      // The greeting's name: never the sending MTA's own, or Postfix would see its mail loop back to itself.
      name: returnPaths.domain,
      banner: 'Latchkey bounce listener',
      authOptional: true,
      // Nothing to log in to, nothing to protect with TLS but the message id: behind the MX on a private network.
      disabledCommands: ['AUTH', 'STARTTLS'],
      size: MAX_BOUNCE_BYTES,
      maxClients: 20,
      socketTimeout: 60_000,
      logger: false,
      onRcptTo(address, session, callback) {
        // Only a return path of the bounce domain: the listener is no relay, and other mail is not read at all.
        if (!returnPaths.isOurs(address.address)) return callback(smtpError(550, '5.1.1 No such mailbox here: this server takes bounces of its own mail only'));
        if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) return callback(smtpError(452, '4.5.3 Too many recipients'));
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        let size = 0;
        // smtp-server reads a message to its end whatever its size: past the limit the rest is dropped, not kept.
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_BOUNCE_BYTES) chunks.push(chunk);
        });
        stream.on('end', () => {
          if (stream.sizeExceeded || size > MAX_BOUNCE_BYTES) return callback(smtpError(552, '5.3.4 Message too big'));
          const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address);
          this.bounces.receive(Buffer.concat(chunks), recipients, { ip: session.remoteAddress, userAgent: 'bounce listener' }).then(
            () => callback(),
            (error: unknown) => {
              // The database could not record it: the sending server keeps the DSN and tries again later.
              this.logger.error({ err: error }, 'bounce listener: the bounce could not be recorded');
              callback(smtpError(451, '4.3.0 Temporary failure, try again later'));
            },
          );
        });
      },
    });
    // A client that drops the connection must not end the process.
    this.server.on('error', (error) => this.logger.warn({ err: error }, 'bounce listener: connection error'));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.server.server.once('error', failed);
      this.server.listen(this.where.port, this.where.host, () => {
        this.server.server.off('error', failed);
        resolve();
      });
    });
    this.listening = true;
    this.logger.info({ host: this.where.host, port: this.port }, 'bounce listener is ready');
  }

  /** The port it listens on (the one chosen by the system when the setting said 0). */
  get port(): number {
    return (this.server.server.address() as AddressInfo | null)?.port ?? this.where.port;
  }

  health(): { enabled: boolean } {
    return { enabled: this.listening };
  }

  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
