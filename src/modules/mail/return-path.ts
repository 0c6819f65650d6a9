// The per-message return path (VERP): bounces+<message id>-<tag>@<bounce domain>, where the tag is an HMAC of the
// id under the installation secret, so a delivery status notification can only name a message Latchkey sent.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** "bounces+" then the message id's 32 hex digits (a UUID without dashes), "-", then 20 hex digits of tag. */
const LOCAL_PART = /^bounces\+([0-9a-f]{32})-([0-9a-f]{20})$/;

export class ReturnPaths {
  private readonly key: Buffer;

  constructor(
    secret: string,
    /** The domain whose mail reaches Latchkey's listener or its bounce mailbox. */
    readonly domain: string,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'latchkey', 'bounce-return-path', 32));
  }

  /** The envelope sender of one message; 61 characters before the @, within SMTP's 64. */
  addressFor(messageId: string): string {
    const hex = messageId.replaceAll('-', '').toLowerCase();
    return `bounces+${hex}-${this.tag(hex)}@${this.domain}`;
  }

  /** Whether an address has this form at this domain at all (the listener refuses others before any data). */
  isOurs(address: string): boolean {
    const at = address.lastIndexOf('@');
    return at > 0 && address.slice(at + 1).toLowerCase() === this.domain && LOCAL_PART.test(address.slice(0, at).toLowerCase());
  }

  /**
   * The message id an address names, when its tag verifies; null for anything else. Local parts are compared in
   * lower case: mail servers on the way may change their case.
   */
  messageIdOf(address: string): string | null {
    if (!this.isOurs(address)) return null;
    const match = LOCAL_PART.exec(address.slice(0, address.lastIndexOf('@')).toLowerCase())!;
    const [, hex, tag] = match as unknown as [string, string, string];
    if (!timingSafeEqual(Buffer.from(tag), Buffer.from(this.tag(hex)))) return null;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  private tag(hex: string): string {
    return createHmac('sha256', this.key).update(hex).digest('hex').slice(0, 20);
  }
}

/**
 * Whether the bounce domain and the From address's domain end in the same two labels (bounces.example.org and
 * example.org do). Spam filters score a mail whose envelope sender is elsewhere (SpamAssassin's
 * HEADER_FROM_DIFFERENT_DOMAINS), and DMARC's SPF alignment needs the same organizational domain.
 */
export function sharesOrganization(from: string, bounceDomain: string): boolean {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  const tail = (domain: string) => domain.toLowerCase().split('.').slice(-2).join('.');
  return tail(address.slice(address.lastIndexOf('@') + 1)) === tail(bounceDomain);
}
