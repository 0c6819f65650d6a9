// A small HTTP client that behaves like a browser without JavaScript: cookies, redirects, forms with their CSRF token.
export interface Page {
  status: number;
  url: string;
  html: string;
  headers: Headers;
}

export class WebClient {
  readonly cookies = new Map<string, string>();
  last: Page | null = null;

  constructor(readonly base: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private remember(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /max-age=0\b/i.test(a.trim()) || /expires=Thu, 01 Jan 1970/i.test(a.trim()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method: string, path: string, body?: URLSearchParams | string, extraHeaders: Record<string, string> = {}): Promise<Page> {
    let url = new URL(path, this.base).toString();
    let currentMethod = method;
    let currentBody = body;
    for (let hops = 0; hops < 10; hops++) {
      const response = await fetch(url, {
        method: currentMethod,
        body: currentBody,
        redirect: 'manual',
        headers: {
          cookie: this.cookieHeader(),
          ...(currentBody instanceof URLSearchParams ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...extraHeaders,
        },
      });
      this.remember(response.headers);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url).toString();
        currentMethod = 'GET';
        currentBody = undefined;
        continue;
      }
      this.last = { status: response.status, url, html: await response.text(), headers: response.headers };
      return this.last;
    }
    throw new Error('too many redirects');
  }

  get(path: string): Promise<Page> {
    return this.request('GET', path);
  }

  /** Posts a form the way the page would: with the CSRF token of the last page, unless one is given. */
  post(path: string, fields: Record<string, string>): Promise<Page> {
    const form = new URLSearchParams({ _csrf: this.csrfToken(), ...fields });
    return this.request('POST', path, form);
  }

  csrfToken(): string {
    const match = /name="_csrf" value="([^"]*)"/.exec(this.last?.html ?? '');
    return match?.[1] ?? '';
  }
}

/** The page's visible text, tags stripped, for assertions a person would make. */
export function textOf(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
