// The cookies Latchkey sets — session, reset link, CSRF secret and a few short-lived ones — each with one set of
// attributes, used to set it and to clear it: a browser deletes a `__Host-` cookie only when the deletion carries
// `Secure` and `Path=/` too.
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * `return`: where a reset begun from an application's sign-in goes back to once the password is changed.
 * `new-secret`: a new secret (a client secret, an API key, a webhook's signing secret), sealed, on its way to the
 *   one page that shows it (infra/handoff.ts).
 * `second-step`: a sign-in whose password (or reset link) was accepted, sealed, waiting for its second step.
 * `recovery-codes`: new recovery codes, sealed, on their way to the one page that shows them.
 * `passkey-challenge`: the challenge of a passkey ceremony under way in this browser, sealed.
 * `lang`: the language picked with the switcher of the pages before login.
 */
export type CookieKind = 'session' | 'reset' | 'csrf' | 'return' | 'new-secret' | 'second-step' | 'recovery-codes' | 'passkey-challenge' | 'lang';

export interface CookieAttributes {
  path: '/';
  httpOnly: true;
  sameSite: 'lax';
  secure: boolean;
}

export class BrowserCookies {
  readonly attributes: CookieAttributes;

  constructor(readonly secure: boolean) {
    this.attributes = { path: '/', httpOnly: true, sameSite: 'lax', secure };
  }

  /** `__Host-` binds a cookie to this exact origin over https; browsers refuse the prefix on http. */
  name(kind: CookieKind): string {
    return this.secure ? `__Host-latchkey_${kind}` : `latchkey_${kind}`;
  }

  read(request: FastifyRequest, kind: CookieKind): string | undefined {
    return request.cookies[this.name(kind)];
  }

  /** Without a lifetime the cookie ends when the browser closes. */
  set(reply: FastifyReply, kind: CookieKind, value: string, maxAgeSeconds?: number): FastifyReply {
    return reply.setCookie(this.name(kind), value, maxAgeSeconds === undefined ? this.attributes : { ...this.attributes, maxAge: maxAgeSeconds });
  }

  clear(reply: FastifyReply, ...kinds: CookieKind[]): FastifyReply {
    for (const kind of kinds) reply.clearCookie(this.name(kind), this.attributes);
    return reply;
  }

  /**
   * A session began or ended in this browser: the reset link it held goes, and the CSRF secret goes too, so
   * the next page makes a new one and no token from before the change is accepted after it.
   */
  sessionChanged(reply: FastifyReply): FastifyReply {
    return this.clear(reply, 'reset', 'csrf');
  }
}
