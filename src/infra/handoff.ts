// A secret shown once, by Post/Redirect/Get: after the write, the secret travels sealed in a short-lived cookie to
// the one page that shows it and clears it, so reloading that page neither repeats the write nor shows it again.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from './clock.ts';
import type { BrowserCookies } from './cookies.ts';
import type { SecretBox } from './crypto.ts';

/** How long a secret waits for its page; the redirect follows at once. */
const HANDOFF_SECONDS = 300;

interface Sealed<Extra> {
  /** What the secret belongs to ("application", "webhook", "api-key") and which one. */
  kind: string;
  subject: string;
  /** The administrator (or user) who made it: only that person's browser may see it. */
  viewer: string;
  secret: string;
  extra: Extra;
  expiresAt: number;
}

export class SecretHandoff<Extra = null> {
  constructor(
    private readonly kind: string,
    private readonly cookies: BrowserCookies,
    /** Seals with the installation secret, for this purpose only. */
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  /** Seals the secret for this subject and viewer into the cookie; the caller then redirects to the page that shows it. */
  give(reply: FastifyReply, subject: string, viewer: string, secret: string, extra: Extra): void {
    const sealed: Sealed<Extra> = { kind: this.kind, subject, viewer, secret, extra, expiresAt: this.clock.now() + HANDOFF_SECONDS * 1000 };
    this.cookies.set(reply, 'new-secret', this.box.seal(JSON.stringify(sealed)), HANDOFF_SECONDS);
  }

  /** The secret waiting for this subject and viewer, if any; the cookie is cleared either way. */
  take(request: FastifyRequest, reply: FastifyReply, subject: string, viewer: string): { secret: string; extra: Extra } | null {
    const cookie = this.cookies.read(request, 'new-secret');
    if (cookie === undefined) return null;
    this.cookies.clear(reply, 'new-secret');
    const opened = this.box.open(cookie);
    if (opened === null) return null;
    const sealed = JSON.parse(opened) as Sealed<Extra>;
    if (sealed.kind !== this.kind || sealed.subject !== subject || sealed.viewer !== viewer || sealed.expiresAt <= this.clock.now()) return null;
    return { secret: sealed.secret, extra: sealed.extra };
  }
}
