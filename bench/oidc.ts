// The "Sign in with Latchkey" part of `npm run bench` (issue 9): a person logged in to Latchkey once signs in to a
// confidential first-party application many times (authorization code flow with PKCE, no password asked), then the
// token endpoint under load: code exchange with codes minted just before, and refresh with each token's rotation
// chained (every chain has one request in flight; its answer's new refresh token is the chain's next request).
import { createHash, randomBytes } from 'node:crypto';
import type { LoadRequest } from './load.ts';

/** The application the bench registers while seeding; its redirect URI is never served (the code is read from Location). */
export interface BenchApplication {
  clientId: string;
  secret: string;
  redirectUri: string;
}

export const BENCH_REDIRECT_URI = 'http://127.0.0.1:9/callback';

/** An authorization code at the redirect URI, with the PKCE verifier that goes with it and when it was minted. */
export interface MintedCode {
  code: string;
  verifier: string;
  mintedAt: number;
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** Logs the seeded user in through /login once; returns the cookies of that browser (CSRF and Latchkey session). */
export async function logIn(base: string, email: string, password: string): Promise<string> {
  const page = await fetch(`${base}/login`);
  const html = await page.text();
  const token = /name="_csrf" value="([^"]*)"/.exec(html)?.[1];
  const jar = new Map(page.headers.getSetCookie().map((line) => cookiePair(line)));
  if (!token) throw new Error(`GET /login gave no CSRF token (status ${page.status})`);
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar), 'user-agent': 'latchkey-bench' },
    body: new URLSearchParams({ _csrf: token, email, password }).toString(),
  });
  await res.arrayBuffer();
  if (res.status !== 303 || res.headers.get('location') !== '/account') throw new Error(`POST /login answered ${res.status} ${res.headers.get('location') ?? ''}`);
  for (const line of res.headers.getSetCookie()) jar.set(...cookiePair(line));
  return cookieHeader(jar);
}

function cookiePair(line: string): [string, string] {
  const pair = line.split(';')[0]!;
  const eq = pair.indexOf('=');
  return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
}

const cookieHeader = (jar: Map<string, string>) => [...jar].filter(([, value]) => value !== '').map(([name, value]) => `${name}=${value}`).join('; ');

/**
 * One sign-in to the application from a browser logged in to Latchkey (its cookies in `loggedIn`), without the
 * provider's session: /oidc/auth with PKCE (S256), offline_access and prompt=consent (for a refresh token), then the
 * redirects through Latchkey's interaction pages until the redirect URI. Returns the code found there.
 */
export async function signIn(base: string, application: BenchApplication, loggedIn: string): Promise<MintedCode> {
  const verifier = base64url(randomBytes(32));
  const state = base64url(randomBytes(16));
  const query = new URLSearchParams({
    client_id: application.clientId,
    response_type: 'code',
    redirect_uri: application.redirectUri,
    scope: 'openid profile email offline_access',
    prompt: 'consent',
    state,
    code_challenge: base64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  const jar = new Map(loggedIn.split('; ').map((pair) => cookiePair(pair)));
  let url = `${base}/oidc/auth?${query}`;
  for (let hops = 0; hops < 10; hops++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(jar), 'user-agent': 'latchkey-bench' } });
    const body = await res.text();
    for (const line of res.headers.getSetCookie()) jar.set(...cookiePair(line));
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`sign-in: GET ${url.replace(base, '')} answered ${res.status}: ${body.replace(/\s+/g, ' ').slice(0, 300)}`);
    if (location.startsWith(application.redirectUri)) {
      const back = new URL(location).searchParams;
      const code = back.get('code');
      if (!code || back.get('state') !== state) throw new Error(`sign-in: back at the application without a code: ${location}`);
      return { code, verifier, mintedAt: Date.now() };
    }
    url = new URL(location, url).toString();
  }
  throw new Error('sign-in: too many redirects');
}

/** `count` sign-ins, `concurrency` at a time (browser i on instance i mod n); the codes in the order they were minted. */
export async function signIns(bases: string[], application: BenchApplication, loggedIn: string, count: number, concurrency: number): Promise<MintedCode[]> {
  const codes: MintedCode[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, browser) => {
      while (started < count) {
        started++;
        codes.push(await signIn(bases[browser % bases.length]!, application, loggedIn));
      }
    }),
  );
  return codes.sort((a, b) => a.mintedAt - b.mintedAt);
}

function tokenRequest(application: BenchApplication, fields: Record<string, string>): LoadRequest {
  const credentials = Buffer.from(`${encodeURIComponent(application.clientId)}:${encodeURIComponent(application.secret)}`).toString('base64');
  return {
    method: 'POST',
    path: '/oidc/token',
    headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'latchkey-bench' },
    body: new URLSearchParams(fields).toString(),
  };
}

/** The token request that exchanges a code for tokens. */
export function codeExchange(application: BenchApplication, minted: MintedCode): LoadRequest {
  return tokenRequest(application, { grant_type: 'authorization_code', code: minted.code, redirect_uri: application.redirectUri, code_verifier: minted.verifier });
}

/** The token answer of a code exchange or refresh, if it carries what the scenario expects. */
export function tokensOf(status: number, body: string): { access_token: string; refresh_token: string; id_token: string } | null {
  if (status !== 200) return null;
  try {
    const tokens = JSON.parse(body) as { access_token?: string; refresh_token?: string; id_token?: string };
    return tokens.access_token && tokens.refresh_token && tokens.id_token ? (tokens as { access_token: string; refresh_token: string; id_token: string }) : null;
  } catch {
    return null;
  }
}

/**
 * Refresh chains: refresh tokens waiting for their turn. Each request takes the next waiting token; its answer puts
 * the rotated one back. With at least as many chains as connections, no request waits and no token is used twice.
 */
export class RefreshChains {
  private readonly waiting: string[];

  constructor(
    private readonly application: BenchApplication,
    tokens: string[],
  ) {
    this.waiting = [...tokens];
  }

  get size(): number {
    return this.waiting.length;
  }

  next(): LoadRequest {
    const token = this.waiting.shift();
    if (!token) throw new Error('refresh: no refresh token waiting (more connections than chains?)');
    return tokenRequest(this.application, { grant_type: 'refresh_token', refresh_token: token });
  }

  /** Whether the answer is a refresh with a new refresh token; that token goes back in line. */
  answered(status: number, body: string): boolean {
    const tokens = tokensOf(status, body);
    if (!tokens) return false;
    this.waiting.push(tokens.refresh_token);
    return true;
  }
}
