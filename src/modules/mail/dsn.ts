// Reads a delivery status notification (RFC 3464) with mailparser: whether it reports a hard bounce, and the remote server's words.

export interface DeliveryReport {
  /** Action: failed, delayed, delivered, relayed or expanded (lower case). */
  action: string;
  /** The enhanced status code, like 5.1.1. */
  status: string;
  /** Failed with a 5.x.x status: the address will not take mail. 4.x.x or "delayed" may still get through. */
  hard: boolean;
  /** What the receiving side said (Diagnostic-Code without its type), on one line; the status when it said nothing. */
  words: string;
  /** Who said it: the Remote-MTA, else the Reporting-MTA, else "unknown". */
  reportedBy: string;
}

export type DsnReading = { ok: true; report: DeliveryReport; addresses: string[] } | { ok: false; reason: string; addresses: string[] };

const STATUS = /^([245])\.\d{1,3}\.\d{1,3}$/;
const REPORT_TYPES = ['message/delivery-status', 'message/global-delivery-status'];

/** One line, no control characters, at most `max` characters: the words are shown on the console as text. */
function oneLine(text: string, max = 500): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max);
}

/** The value after "type;" in fields like "Remote-MTA: dns; mx.example.org". */
function typedValue(value: string | undefined): string | null {
  if (value === undefined) return null;
  const semicolon = value.indexOf(';');
  const text = oneLine(semicolon >= 0 ? value.slice(semicolon + 1) : value);
  return text === '' ? null : text;
}

/** The blocks of "Name: value" fields (continuation lines unfolded), names in lower case. */
export function deliveryStatusFields(body: string): Array<Map<string, string>> {
  const blocks: Array<Map<string, string>> = [];
  for (const block of body.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/)) {
    const unfolded = block.replace(/\n[ \t]+/g, ' ');
    const fields = new Map<string, string>();
    for (const line of unfolded.split('\n')) {
      const match = /^([A-Za-z0-9-]+)[ \t]*:(.*)$/.exec(line);
      if (match && !fields.has(match[1]!.toLowerCase())) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
    }
    if (fields.size > 0) blocks.push(fields);
  }
  return blocks;
}

/**
 * Reads one inbound message. Not a notification, or one without a readable recipient block, is refused with a
 * reason for the audit log. `addresses` are the addresses its headers say it was delivered to (for the bounce
 * mailbox, where there is no envelope): Delivered-To, X-Original-To and To.
 */
export async function readDsn(raw: Buffer): Promise<DsnReading> {
  let parsed;
  try {
    // Loaded with the first report: an installation that receives none never pays for the parser.
    const { simpleParser } = await import('mailparser');
    parsed = await simpleParser(raw, { keepDeliveryStatus: true, skipHtmlToText: true, skipTextLinks: true, skipImageLinks: true });
  } catch {
    return { ok: false, reason: 'the message could not be parsed', addresses: [] };
  }
  const addresses: string[] = [];
  for (const name of ['delivered-to', 'x-original-to', 'to']) {
    const header = parsed.headers.get(name) as { value?: Array<{ address?: string }> } | string | undefined;
    if (typeof header === 'string') addresses.push(header.trim().replace(/^<|>$/g, ''));
    else for (const item of header?.value ?? []) if (item.address) addresses.push(item.address);
  }
  const contentType = parsed.headers.get('content-type') as { value?: string } | undefined;
  const part = parsed.attachments.find((attachment) => REPORT_TYPES.includes(attachment.contentType.toLowerCase()));
  if (contentType?.value?.toLowerCase() !== 'multipart/report' || !part) {
    return { ok: false, reason: 'not a delivery status notification (no multipart/report with a delivery-status part)', addresses };
  }
  const [perMessage, ...perRecipient] = deliveryStatusFields(part.content.toString('utf8'));
  const recipients = perRecipient.filter((fields) => fields.has('action') && fields.has('status'));
  if (!perMessage || recipients.length === 0) return { ok: false, reason: 'malformed delivery status: no recipient with Action and Status', addresses };
  // Latchkey sends each mail to one recipient; of several blocks, a permanent failure is what matters.
  const fields = recipients.find((block) => block.get('action')!.toLowerCase() === 'failed' && block.get('status')!.startsWith('5')) ?? recipients[0]!;
  const status = (/^\s*(\d\.\d{1,3}\.\d{1,3})/.exec(fields.get('status')!) ?? [])[1] ?? '';
  const action = oneLine(fields.get('action')!.toLowerCase(), 40);
  if (!STATUS.test(status)) return { ok: false, reason: 'malformed delivery status: the Status is not a status code', addresses };
  return {
    ok: true,
    addresses,
    report: {
      action,
      status,
      hard: action === 'failed' && status.startsWith('5'),
      words: typedValue(fields.get('diagnostic-code')) ?? `Status ${status}`,
      reportedBy: typedValue(fields.get('remote-mta')) ?? typedValue(perMessage.get('reporting-mta')) ?? 'unknown',
    },
  };
}
