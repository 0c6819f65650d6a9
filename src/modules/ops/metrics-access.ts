// Who may read /metrics: a caller from an allowed address (LATCHKEY_METRICS_ALLOW) or one with the bearer token.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';

export class MetricsAccess {
  private readonly allowed = new BlockList();
  private readonly tokenDigest: Buffer | null;

  /** `allow` holds IP addresses and CIDR ranges, already checked by the settings. */
  constructor(allow: string[], token: string | null) {
    for (const entry of allow) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = isIPv4(address) ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.allowed.addAddress(address, family);
      else this.allowed.addSubnet(address, Number(bits), family);
    }
    this.tokenDigest = token === null ? null : digest(token);
  }

  /** `ip` is the client's address as Fastify sees it (after LATCHKEY_TRUST_PROXY); `authorization` the raw header. */
  permits(ip: string, authorization: string | undefined): boolean {
    return this.fromAllowedAddress(ip) || this.hasToken(authorization);
  }

  /** Whether the caller showed a bearer token at all: a wrong one is worth a log line, a missing one is not. */
  static triedToken(authorization: string | undefined): boolean {
    return /^bearer\s/i.test(authorization ?? '');
  }

  private fromAllowedAddress(ip: string): boolean {
    // A client that hung up before its request was handled has no address any more: nothing to allow.
    if (!ip) return false;
    // A server listening on :: sees IPv4 clients as ::ffff:a.b.c.d; the allow list names them as a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (mapped) return this.allowed.check(mapped, 'ipv4') || this.allowed.check(ip, 'ipv6');
    return this.allowed.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
  }

  private hasToken(authorization: string | undefined): boolean {
    if (this.tokenDigest === null) return false;
    const given = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    // Digests of equal length, compared in constant time: neither the token nor its length leaks through timing.
    return given !== undefined && timingSafeEqual(digest(given), this.tokenDigest);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
