// Where mail goes: an SMTP server through nodemailer (pooled), and how its failures are classified.
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  /** A name for the attempt log, without credentials. */
  readonly name: string;
  send(mail: OutgoingMail): Promise<{ reply: string }>;
  close(): void;
}

/** A failed attempt: temporary ones are retried, permanent ones stop at once. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

/** Turns a nodemailer error into a line a person can act on, and decides whether to try again. */
export function classifySmtpError(error: unknown): DeliveryError {
  const e = error as NodemailerError;
  const reply = e.response ? e.response.replace(/\s+/g, ' ').slice(0, 500) : null;
  if (e.code === 'EAUTH') return new DeliveryError(`Authentication failed: ${reply ?? e.message}`, false);
  if (typeof e.responseCode === 'number') {
    return new DeliveryError(reply ?? `${e.responseCode} ${e.message}`, e.responseCode >= 500 && e.responseCode < 600);
  }
  const messages: Record<string, string> = {
    ECONNREFUSED: 'Connection refused: nothing is listening on that host and port.',
    ETIMEDOUT: 'Timed out waiting for the mail server.',
    EDNS: 'The mail server name was not found.',
    ECONNECTION: 'Could not connect to the mail server.',
    ESOCKET: 'The connection to the mail server failed.',
    ETLS: 'The secure (TLS) connection to the mail server failed.',
  };
  const text = (e.code && messages[e.code]) || 'The mail server could not be reached.';
  return new DeliveryError(`${text} (${e.message.replace(/\s+/g, ' ').slice(0, 300)})`, false);
}

function describeUrl(url: URL): string {
  return `${url.protocol}//${url.hostname}:${url.port || (url.protocol === 'smtps:' ? '465' : '587')}`;
}

export class SmtpTransport implements MailTransport {
  readonly name: string;
  private readonly transporter: Transporter;

  constructor(smtpUrl: string) {
    const url = new URL(smtpUrl);
    this.name = describeUrl(url);
    this.transporter = nodemailer.createTransport({
      url: smtpUrl,
      pool: true,
      maxConnections: 3,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
  }

  async send(mail: OutgoingMail): Promise<{ reply: string }> {
    try {
      const info = await this.transporter.sendMail(mail);
      return { reply: String(info.response ?? 'accepted') };
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  close(): void {
    this.transporter.close();
  }
}
