// Where mail goes: SMTP servers through nodemailer (pooled), and what a failure means in words a person can act on.
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  replyTo?: string;
  /** The SMTP envelope, when it differs from the headers: the per-message return path (bounces) as MAIL FROM. */
  envelope?: { from: string; to: string };
}

export type ConnectionSecurity = 'none' | 'starttls' | 'tls';

/** One outgoing server, from the environment (a URL) or from the Outgoing Mail Servers page (fields). */
export type ServerEndpoint =
  | { kind: 'url'; url: string }
  | { kind: 'fields'; host: string; port: number; security: ConnectionSecurity; username: string | null; password: string | null };

export interface DkimSettings {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

export interface MailTransport {
  /** A name for the attempt log, without credentials. */
  readonly name: string;
  /** The server's own From address, when it has one. */
  readonly from: string | null;
  send(mail: OutgoingMail): Promise<{ reply: string }>;
  close(): void;
}

/**
 * A failed attempt. Permanent ones stop at once; temporary ones are retried later; a connection-level
 * failure (the server could not be reached or refused us before taking the mail) tries the next server.
 */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly connectionLevel: boolean,
  ) {
    super(message);
  }
}

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  /** nodemailer keeps the socket's own code (ECONNREFUSED, ENOTFOUND…) here when it reports ESOCKET. */
  originalCode?: string;
  cause?: { code?: string; message?: string };
}

const CERTIFICATE_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server uses a self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate was issued by an authority that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate was issued by an authority that is not trusted',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate was issued for another host name',
};

function oneLine(text: string, max = 300): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** Turns a nodemailer error into a line a person can act on, and decides what to do next. */
export function classifySmtpError(error: unknown, where: { host?: string; port?: number; from?: string } = {}): DeliveryError {
  const e = error as NodemailerError;
  const message = oneLine(e.message ?? String(error));
  const reply = e.response ? oneLine(e.response, 500) : null;
  const server = where.host ? `${where.host}${where.port ? `:${where.port}` : ''}` : 'the mail server';
  const certificateCode = [e.code, e.originalCode, e.cause?.code, ...Object.keys(CERTIFICATE_PROBLEMS).filter((code) => message.includes(code))].find(
    (code): code is string => typeof code === 'string' && code in CERTIFICATE_PROBLEMS,
  );
  if (certificateCode || /certificate/i.test(message)) {
    const reason = certificateCode ? CERTIFICATE_PROBLEMS[certificateCode] : message;
    return new DeliveryError(`Certificate not trusted: ${reason} (${server}). Install a trusted certificate on the server, or choose another Connection Security.`, false, true);
  }
  if (e.code === 'EAUTH' || e.code === 'ENOAUTH') {
    return new DeliveryError(`Authentication failed: the server refused the username or password${reply ? ` (${reply})` : ''}.`, false, true);
  }
  if (/STARTTLS/i.test(message) && (e.code === 'ETLS' || /not (supported|offered|advertised)/i.test(message))) {
    return new DeliveryError(`STARTTLS not offered: ${server} does not support STARTTLS. Choose "SSL/TLS" or "None" as Connection Security, or enable STARTTLS on the server.`, false, true);
  }
  if (e.code === 'EENVELOPE' && e.command === 'MAIL FROM') {
    return new DeliveryError(`Sender refused: the server does not accept ${where.from ? `"${where.from}"` : 'the From address'} as sender${reply ? ` (${reply})` : ''}. Use a From Address the server allows.`, (e.responseCode ?? 0) >= 500, false);
  }
  if (typeof e.responseCode === 'number') {
    const permanent = e.responseCode >= 500 && e.responseCode < 600;
    const what = e.command === 'RCPT TO' ? 'The server refused the recipient' : 'The server refused the message';
    return new DeliveryError(`${what}: ${reply ?? `${e.responseCode} ${message}`}`, permanent, false);
  }
  const causeCode = `${e.originalCode ?? ''} ${e.cause?.code ?? ''}`;
  // Falling back to the next server is only safe before the mail transaction began: a failure after DATA
  // may come after the server took the mail, and the next server would deliver it a second time.
  const beforeTransaction = e.command === undefined || /^(CONN|EHLO|HELO|LHLO|STARTTLS|AUTH)/i.test(e.command);
  if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long|unknown protocol/i.test(message)) {
    return new DeliveryError(`${server} does not speak SSL/TLS on port ${where.port ?? '?'}. Choose STARTTLS (usually port 587) or check the SMTP Port.`, false, beforeTransaction);
  }
  if (e.code === 'EDNS' || /ENOTFOUND|EAI_AGAIN/.test(causeCode + message)) {
    return new DeliveryError(`Name not found: "${where.host ?? 'the server name'}" does not resolve to an address. Check the SMTP Server name.`, false, beforeTransaction);
  }
  if (/ECONNREFUSED/.test(causeCode + message)) {
    return new DeliveryError(`Connection refused: nothing accepts connections on ${server}. Check the SMTP Server and SMTP Port, and that the server is running.`, false, beforeTransaction);
  }
  if (e.code === 'ETIMEDOUT' || /ETIMEDOUT|timed? ?out/i.test(causeCode + message)) {
    return new DeliveryError(`Timed out: ${server} did not answer in time. Check the SMTP Port and any firewall between Latchkey and the server.`, false, beforeTransaction);
  }
  if (e.code === 'ETLS') {
    return new DeliveryError(`The secure connection failed: ${message}. Check the Connection Security setting.`, false, beforeTransaction);
  }
  if (e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'EPROTOCOL') {
    return new DeliveryError(`The connection to ${server} failed: ${message}`, false, beforeTransaction);
  }
  return new DeliveryError(`Sending failed: ${message}`, false, false);
}

/** nodemailer's options for one endpoint. */
export function transportOptions(endpoint: ServerEndpoint, dkim: DkimSettings | null) {
  const common = {
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    ...(dkim ? { dkim } : {}),
  };
  if (endpoint.kind === 'url') return { url: endpoint.url, ...common };
  return {
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.security === 'tls',
    requireTLS: endpoint.security === 'starttls',
    ignoreTLS: endpoint.security === 'none',
    ...(endpoint.username ? { auth: { user: endpoint.username, pass: endpoint.password ?? '' } } : {}),
    ...common,
  };
}

export function describeEndpoint(endpoint: ServerEndpoint): { host: string; port: number; label: string } {
  if (endpoint.kind === 'fields') return { host: endpoint.host, port: endpoint.port, label: `${endpoint.host}:${endpoint.port}` };
  const url = new URL(endpoint.url);
  const port = Number(url.port || (url.protocol === 'smtps:' ? 465 : 587));
  return { host: url.hostname, port, label: `${url.protocol}//${url.hostname}:${port}` };
}

/**
 * Connections kept open to each server: enough to overlap round trips, few enough to be a polite client. With 5,
 * a busy server's event loop made each connection's lock-step SMTP exchange the bottleneck: mail fell seconds behind
 * the requests that queued it (bench, PostgreSQL); 10 keeps up and stays far below relays' usual limits.
 */
export const POOL_CONNECTIONS = 10;

export class SmtpTransport implements MailTransport {
  readonly name: string;
  private readonly transporter: Transporter;
  private readonly where: { host: string; port: number };

  constructor(
    endpoint: ServerEndpoint,
    readonly from: string | null,
    dkim: DkimSettings | null,
    label?: string,
  ) {
    const described = describeEndpoint(endpoint);
    this.name = label ? `${label} (${described.label})` : described.label;
    this.where = described;
    this.transporter = nodemailer.createTransport({ ...transportOptions(endpoint, dkim), pool: true, maxConnections: POOL_CONNECTIONS, maxMessages: 1000 });
  }

  async send(mail: OutgoingMail): Promise<{ reply: string }> {
    try {
      const info = await this.transporter.sendMail(mail);
      return { reply: String(info.response ?? 'accepted') };
    } catch (error) {
      throw classifySmtpError(error, { ...this.where, from: mail.from });
    }
  }

  close(): void {
    this.transporter.close();
  }
}

/** "Test Connection": connect, greet, secure the connection as chosen, authenticate, quit — without sending. */
export async function testConnection(endpoint: ServerEndpoint): Promise<{ ok: true; message: string } | { ok: false; message: string }> {
  const where = describeEndpoint(endpoint);
  const transporter = nodemailer.createTransport(transportOptions(endpoint, null));
  try {
    await transporter.verify();
    const security = endpoint.kind === 'fields' ? { none: 'without encryption', starttls: 'with STARTTLS', tls: 'over SSL/TLS' }[endpoint.security] : '';
    const auth = endpoint.kind === 'fields' && endpoint.username ? `, logged in as ${endpoint.username}` : '';
    return { ok: true, message: `Connection to ${where.label} works: connected ${security}${auth}.`.replace('  ', ' ') };
  } catch (error) {
    return { ok: false, message: classifySmtpError(error, where).message };
  } finally {
    transporter.close();
  }
}

/** "Send Test Email": a real message through one endpoint, and the server's answer. */
export async function sendTestEmail(endpoint: ServerEndpoint, mail: OutgoingMail, dkim: DkimSettings | null): Promise<{ ok: boolean; message: string; reply?: string }> {
  const where = describeEndpoint(endpoint);
  const transporter = nodemailer.createTransport(transportOptions(endpoint, dkim));
  try {
    const info = await transporter.sendMail(mail);
    const reply = oneLine(String(info.response ?? 'accepted'));
    return { ok: true, message: `The server accepted the test email for ${mail.to}: ${reply}`, reply };
  } catch (error) {
    return { ok: false, message: classifySmtpError(error, { ...where, from: mail.from }).message };
  } finally {
    transporter.close();
  }
}

/** The message exactly as it would be sent (headers and MIME parts), for the Mail Queue's source view. */
export async function messageSource(mail: OutgoingMail, dkim: DkimSettings | null): Promise<string> {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix', ...(dkim ? { dkim } : {}) });
  const info = await transporter.sendMail(mail);
  return (info.message as Buffer).toString('utf8');
}
