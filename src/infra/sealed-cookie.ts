// A value sealed in an HttpOnly cookie for a few minutes: for this browser only, read back only before it expires.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from './clock.ts';
import type { BrowserCookies, CookieKind } from './cookies.ts';
import type { SecretBox } from './crypto.ts';

export class SealedCookie<T> {
  constructor(
    private readonly kind: CookieKind,
    private readonly cookies: BrowserCookies,
    /** Seals with the installation secret, for this purpose only. */
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly seconds: number,
  ) {}

  put(reply: FastifyReply, value: T): void {
    const sealed = this.box.seal(JSON.stringify({ kind: this.kind, value, expiresAt: this.clock.now() + this.seconds * 1000 }));
    this.cookies.set(reply, this.kind, sealed, this.seconds);
  }

  read(request: FastifyRequest): T | null {
    const cookie = this.cookies.read(request, this.kind);
    const opened = cookie === undefined || cookie.length > 4000 ? null : this.box.open(cookie);
    if (opened === null) return null;
    const { kind, value, expiresAt } = JSON.parse(opened) as { kind: CookieKind; value: T; expiresAt: number };
    // The kind is sealed too: one cookie's value moved into another's name is not read as that one.
    return kind === this.kind && expiresAt > this.clock.now() ? value : null;
  }

  clear(reply: FastifyReply): void {
    this.cookies.clear(reply, this.kind);
  }
}
