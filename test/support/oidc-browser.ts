// The relying party's side of the OpenID Connect tests: applications on a port nothing listens on, and a browser
// without JavaScript that fills in Latchkey's own login and consent pages until it is sent back to one.
import assert from 'node:assert/strict';
import { textOf } from './client.ts';

/** The applications live here: the browser stops when it is sent there. */
export const APP_ORIGIN = 'http://127.0.0.1:9';

/** A browser without JavaScript: keeps cookies (by name), follows redirects until it is sent to an application. */
export class Browser {
  readonly cookies = new Map<string, string>();
  html = '';
  status = 0;
  csp = '';

  async go(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<string | null> {
    let next = url;
    let method = init.method ?? 'GET';
    let body: URLSearchParams | undefined = init.form ? new URLSearchParams(init.form) : undefined;
    for (let hops = 0; hops < 15; hops++) {
      if (next.startsWith(`${APP_ORIGIN}/`)) return next;
      const response = await fetch(next, {
        method,
        body,
        redirect: 'manual',
        headers: { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';');
        const eq = pair!.indexOf('=');
        const name = pair!.slice(0, eq).trim();
        const value = pair!.slice(eq + 1).trim();
        if (value === '' || attributes.some((a) => /max-age=0\b/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a))) this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        next = new URL(location, next).toString();
        method = 'GET';
        body = undefined;
        continue;
      }
      this.status = response.status;
      this.csp = response.headers.get('content-security-policy') ?? '';
      this.html = await response.text();
      return null;
    }
    throw new Error('too many redirects');
  }

  /** Submits the first form whose action contains `actionPart` (and whose body contains `containing`), with its hidden fields and these values. */
  async submit(actionPart: string, fields: Record<string, string> = {}, base: string, containing = ''): Promise<string | null> {
    const forms = [...this.html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((match) => match[1]!.includes(actionPart) && match[2]!.includes(containing));
    assert.ok(form, `a form posting to ${actionPart} (page: ${textOf(this.html).slice(0, 300)})`);
    const hidden = Object.fromEntries([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    return this.go(new URL(form[1]!.replace(/&amp;/g, '&'), base).toString(), { method: 'POST', form: { ...hidden, ...fields } });
  }
}
