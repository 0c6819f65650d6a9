// The Security page in a real browser (Debian's Chromium): an administrator sees the alert banner, follows it to
// the Security page, reads the charts as images with names and their numbers as tables, and acknowledges the
// alert; with JavaScript off too. Checked with axe-core (WCAG 2.1 AA).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { recordAudit } from '../../src/modules/audit/audit.ts';

const ADMIN = { email: 'ines.admin@example.com', name: 'Ines Admin' };

async function logIn(page: Page): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
  await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL('**/account');
}

describe('the Security page in a browser', () => {
  let browser: Browser;
  let lk: TestApp;

  before(async () => {
    browser = await launchBrowser();
    lk = await startTestApp();
    await lk.createUser({ ...ADMIN, admin: true });
    // A sprayer in the last half hour and three hours ago, a failed login, a refused link, a mail that failed.
    const now = Date.now();
    for (let i = 0; i < 30; i++) {
      const at = i < 25 ? now - i * 60_000 : now - 3 * 3_600_000;
      await recordAudit(lk.services.db, at, { ip: '203.0.113.66' }, { type: 'reset.requested', email: `someone${i}@example.com` });
    }
    await recordAudit(lk.services.db, now, { ip: '2001:db8::5' }, { type: 'login.failed', email: ADMIN.email });
    await recordAudit(lk.services.db, now, { ip: '2001:db8::5' }, { type: 'reset.link_refused' });
    await recordAudit(lk.services.db, now, { ip: null }, { type: 'mail.failed', email: 'someone1@example.com' });
    await lk.services.security.checkAlerts();
  });
  after(async () => {
    await browser?.close();
    await lk?.close();
  });

  it('axe finds nothing at WCAG 2.1 AA on the Security page and the Audit Log it links to', async (t) => {
    const { page } = await openSession(browser, t, { baseURL: lk.url });
    await logIn(page);
    for (const path of ['/admin/security', '/admin/users', '/admin/audit?type=reset.requested,reset.throttled&ip=203.0.113.0%2F24&from=2026-01-01T00%3A00&to=2030-01-01T00%3A00']) {
      await page.goto(path);
      await assertAccessible(page, path);
    }
  });

  it('the banner leads to the Security page, whose charts are named images with their numbers in tables, and Acknowledge clears it', async (t) => {
    const { page } = await openSession(browser, t, { baseURL: lk.url });
    await logIn(page);
    await page.goto('/admin/users');
    await page.getByRole('link', { name: 'Review and acknowledge', exact: true }).click();
    await page.waitForURL('**/admin/security#alerts');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Security');
    const chart = page.getByRole('img', { name: /^Reset requests per hour, last 7 days: for an account 0, for an address without an account 30/ });
    assert.equal(await chart.count(), 1);
    await page.getByText('Reset requests: the numbers by hour', { exact: true }).click();
    const table = page.getByRole('table', { name: /Reset requests per hour/ });
    assert.equal(await table.getByRole('columnheader', { name: 'For an address without an account' }).count(), 1);
    assert.ok((await table.getByRole('rowheader').count()) >= 2, 'a row for each hour with requests');

    const open = page.getByRole('button', { name: /^Acknowledge/ });
    assert.equal(await open.count(), 1);
    await open.click();
    await page.waitForURL('**/admin/security?notice=acknowledged#alerts');
    await page.getByText('No open alerts.', { exact: true }).waitFor();
    await page.goto('/admin/users');
    assert.equal(await page.getByRole('link', { name: 'Review and acknowledge' }).count(), 0);
  });

  it('works without JavaScript', async () => {
    const context = await browser.newContext({ baseURL: lk.url, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await logIn(page);
      await page.goto('/admin/security');
      assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Security');
      // Reset requests, reset links, failed logins, failed second steps, throttled requests, mail failures.
      assert.equal(await page.getByRole('img', { name: /per hour, last 7 days/ }).count(), 6);
      await page.getByRole('link', { name: /^30 requests from 203\.0\.113\.66/ }).click();
      await page.waitForURL('**/admin/audit?**');
      assert.match(await page.locator('.pager span').innerText(), /\(30 events in all\)/);
    } finally {
      await context.close();
    }
  });
});
