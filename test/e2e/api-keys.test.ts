// API keys in a real browser (Debian's Chromium): an administrator creates a key by keyboard, copies it from the
// page that shows it once, uses it, and reads the API documentation — every page checked with axe.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';

const ADMIN = { email: 'keys.admin@example.com', name: 'Keya Admin' };

let browser: Browser;
let lk: TestApp;

before(async () => {
  browser = await launchBrowser();
  lk = await startTestApp({ startWorker: false });
  await lk.createUser({ ...ADMIN, admin: true });
});
after(async () => {
  await lk?.close();
  await browser?.close();
});

async function logIn(page: Page): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
  await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL('**/account');
}

describe('API keys in the browser', () => {
  it('Settings → API Keys → New API Key, by keyboard: the key is shown once, works, and the documentation reads', async (t) => {
    const session = await openSession(browser, t, { baseURL: lk.url });
    const { page } = session;
    await logIn(page);
    await page.goto('/admin/users');
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'API Keys', exact: true }).click();
    await page.waitForURL('**/admin/api-keys');
    await assertAccessible(page, 'API Keys, empty');
    await page.getByRole('link', { name: 'New API Key', exact: true }).click();
    await page.waitForURL('**/admin/api-keys/new');
    await assertAccessible(page, 'New API Key');

    await page.getByLabel('Name', { exact: true }).fill('Payroll sync');
    await page.getByRole('checkbox', { name: /^users:read/ }).uncheck();
    await page.getByRole('checkbox', { name: /^audit:read/ }).check();
    await page.getByRole('button', { name: 'Create API Key' }).press('Enter');
    await page.waitForURL(/\/admin\/api-keys\/[^/]+\/created$/);
    await assertAccessible(page, 'API Key Created');
    const key = await page.getByLabel('Key', { exact: true }).inputValue();
    assert.match(key, /^lk_[A-Za-z0-9_-]{43}$/);

    const audit = await fetch(`${lk.url}/api/v1/audit?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(audit.status, 200);
    const users = await fetch(`${lk.url}/api/v1/users`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(users.status, 403, 'the scope it was not given');

    await page.getByRole('link', { name: 'Done' }).click();
    await page.waitForURL(/\/admin\/api-keys\/[^/]+$/);
    await assertAccessible(page, "a key's page");
    assert.equal(await page.getByLabel('Key', { exact: true }).count(), 0, 'the key is not shown again');
    await page.getByRole('button', { name: 'Revoke API Key' }).click();
    await page.waitForURL('**/admin/api-keys?notice=revoked');
    await assertAccessible(page, 'API Keys, one revoked');
    assert.match(await page.getByRole('table').innerText(), /Payroll sync[\s\S]*Revoked/);

    await page.goto('/api/docs');
    await assertAccessible(page, '/api/docs');
    await page.getByRole('link', { name: 'Errors' }).click();
    assert.ok(await page.getByRole('heading', { name: /GET \/api\/v1\/users\b/ }).first().isVisible());
    await session.close();
  });
});
