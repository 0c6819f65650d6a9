// A secret shown once, by Post/Redirect/Get: after the write, the secret travels sealed in a short-lived cookie to
// the one page that shows it and clears it, so reloading that page neither repeats the write nor shows it again.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from './clock.ts';
import type { BrowserCookies } from './cookies.ts';
import type { SecretBox } from './crypto.ts';
import { SealedCookie } from './sealed-cookie.ts';

/** How long a secret waits for its page; the redirect follows at once. */
const HANDOFF_SECONDS = 300;

interface Handed<Extra> {
  /** What the secret belongs to ("application", "webhook", "api-key") and which one. */
  kind: string;
  subject: string;
  /** The administrator (or user) who made it: only that person's browser may see it. */
  viewer: string;
  secret: string;
  extra: Extra;
}

export class SecretHandoff<Extra = null> {
  private readonly cookie: SealedCookie<Handed<Extra>>;

  constructor(
    private readonly kind: string,
    cookies: BrowserCookies,
    /** Seals with the installation secret, for this purpose only. */
    box: SecretBox,
    clock: Clock,
  ) {
    this.cookie = new SealedCookie('new-secret', cookies, box, clock, HANDOFF_SECONDS);
  }

  /** Seals the secret for this subject and viewer into the cookie; the caller then redirects to the page that shows it. */
  give(reply: FastifyReply, subject: string, viewer: string, secret: string, extra: Extra): void {
    this.cookie.put(reply, { kind: this.kind, subject, viewer, secret, extra });
  }

  /** The secret waiting for this subject and viewer, if any; the cookie is cleared either way. */
  take(request: FastifyRequest, reply: FastifyReply, subject: string, viewer: string): { secret: string; extra: Extra } | null {
    const handed = this.cookie.read(request);
    this.cookie.clear(reply);
    if (!handed || handed.kind !== this.kind || handed.subject !== subject || handed.viewer !== viewer) return null;
    return { secret: handed.secret, extra: handed.extra };
  }
}
