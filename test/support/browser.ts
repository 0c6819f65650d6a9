// Debian's Chromium for end-to-end tests, and browser sessions that fail the test on any unexpected console or page error.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Starts the system's Chromium (never a downloaded one); LATCHKEY_CHROMIUM points elsewhere if needed. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.LATCHKEY_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}


export interface BrowserSession {
  /** One person's browser: its own cookies, so its own Latchkey session. */
  context: BrowserContext;
  page: Page;
  /**
   * Lets one console error that matches through, for a step that is meant to answer with an error status
   * (Chromium logs "Failed to load resource: the server responded with a status of 4xx" for such a page).
   */
  allowConsoleError(pattern: RegExp): void;
  /** Shorthand for the console error Chromium logs when a page answers with `status`. */
  allowStatus(status: number): void;
  /** Everything unexpected the browser reported so far. */
  readonly problems: readonly string[];
  /** Closes the context and fails if the browser reported anything unexpected. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a fresh context and page. Console errors, uncaught page errors and server errors (5xx) are
 * collected; unless allowed in advance they fail the test when the session closes — which happens by
 * itself at the end of the test `t`, as in Epic Stack's e2e fixtures.
 */
export async function openSession(browser: Browser, t?: TestContext, options: { baseURL?: string; locale?: string } = {}): Promise<BrowserSession> {
  // The locale also sets the browser's Accept-Language, which chooses the pages' language.
  const context = await browser.newContext({ baseURL: options.baseURL, locale: options.locale ?? 'en-US', viewport: { width: 1024, height: 800 } });
  context.setDefaultTimeout(5_000);
  context.setDefaultNavigationTimeout(10_000);
  const problems: string[] = [];
  const allowed: RegExp[] = [];

  const report = (problem: string) => {
    const index = allowed.findIndex((pattern) => pattern.test(problem));
    if (index >= 0) allowed.splice(index, 1);
    else problems.push(problem);
  };
  context.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location().url || message.page()?.url() || '';
    report(`console error: ${message.text()}${where ? ` (at ${where})` : ''}`);
  });
  context.on('weberror', (webError) => report(`page error: ${webError.error().message}`));
  context.on('response', (response) => {
    if (response.status() >= 500) report(`server error: ${response.status()} for ${response.request().method()} ${response.url()}`);
  });

  const page = await context.newPage();
  let closed = false;
  const session: BrowserSession = {
    context,
    page,
    problems,
    allowConsoleError: (pattern) => allowed.push(pattern),
    allowStatus: (status) => allowed.push(new RegExp(`status of ${status}\\b`)),
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => {});
      assert.deepEqual(problems, [], 'the browser reported unexpected errors');
    },
  };
  t?.after(() => session.close());
  return session;
}
