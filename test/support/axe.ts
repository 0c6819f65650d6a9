// axe-core in the browser tests: a page passes when axe finds no WCAG 2.1 A/AA violation on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

let source: string | null = null;

interface AxeResult {
  violations: Array<{ id: string; help: string; nodes: Array<{ target: unknown[] }> }>;
}

/**
 * Runs axe on the page as it is now. The script goes in through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern, so the page is checked with its real headers. Closed
 * <details> are opened first, so the tables inside them are checked too.
 */
export async function assertAccessible(page: Page, what = page.url()): Promise<void> {
  source ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const violations = await page.evaluate(async (script) => {
    for (const details of document.querySelectorAll('details')) details.setAttribute('open', '');
    const global = window as unknown as { axe?: { run(context: Document, options: object): Promise<AxeResult> } };
    if (!global.axe) (0, eval)(script);
    const result = await global.axe!.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
  }, source);
  assert.deepEqual(violations, [], `axe (WCAG 2.1 AA) on ${what}`);
}
