// The Webhooks pages in a real browser (Debian's Chromium), checked with axe: an administrator adds a webhook
// (refused, then accepted), copies the secret shown once, watches a delivery with its attempts, rotates the
// secret and deletes the webhook.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession } from '../support/browser.ts';
import { heading } from '../support/pages.ts';

const ADMIN = { email: 'wilma.hooks@example.com', name: 'Wilma Hooks' };

let browser: Browser;
let lk: TestApp;
let receiver: Server;
let receiverUrl: string;
const received: Array<{ headers: Record<string, string>; body: string }> = [];

before(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers as Record<string, string>, body });
      // The first attempt fails, so the page has two attempts to show.
      response.writeHead(received.length === 1 ? 500 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/latchkey`;
  browser = await launchBrowser();
  lk = await startTestApp({ env: { LATCHKEY_WEBHOOK_ALLOW_PRIVATE: 'on', LATCHKEY_WEBHOOK_ALLOW_HTTP: 'on' }, startWorker: false });
  await lk.createUser({ ...ADMIN, admin: true });
});

after(async () => {
  await browser?.close();
  await lk?.close();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

describe('the Webhooks pages', () => {
  it('an administrator adds a webhook, sees each attempt of a delivery, rotates its secret and deletes it', { timeout: 60_000 }, async (t) => {
    const { page, allowStatus } = await openSession(browser, t, { baseURL: lk.url });
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL('**/account');
    await page.getByRole('banner').getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Webhooks', exact: true }).click();
    assert.equal(await heading(page), 'Webhooks');
    await assertAccessible(page, 'the Webhooks list');

    await page.getByRole('link', { name: 'New Webhook', exact: true }).click();
    assert.equal(await heading(page), 'New Webhook');
    await assertAccessible(page, 'the New Webhook form');
    await page.getByLabel('URL', { exact: true }).fill(receiverUrl);
    await page.getByLabel('Description', { exact: true }).fill('HR system');
    await page.getByRole('checkbox', { name: /password\.changed/ }).uncheck();
    allowStatus(400);
    await page.getByRole('button', { name: 'Add Webhook', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await page.locator('.field-error').innerText(), 'Choose at least one event.');
    await assertAccessible(page, 'a refused New Webhook form');
    await page.getByRole('checkbox', { name: /user\.created/ }).check();
    await page.getByRole('button', { name: 'Add Webhook', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Webhook Added');
    const secret = await page.getByLabel('Signing Secret').inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await assertAccessible(page, 'the page that shows a signing secret once');
    await page.reload();
    assert.equal(await heading(page), 'Webhook');
    assert.equal(await page.getByLabel('Signing Secret').count(), 0, 'a reload does not show the secret again');

    await lk.createUser({ email: 'new.colleague@example.com', name: 'Nora Colleague' });
    await lk.services.webhookWorker.drain();
    assert.equal(received.length, 1);
    // The retry is due in 5 to 10 seconds: make it due now rather than wait.
    await lk.services.db.updateTable('webhook_deliveries').set({ next_attempt_at: Date.now() - 1 }).execute();
    await lk.services.webhookWorker.drain();
    assert.equal(received.length, 2);
    assert.equal((new Webhook(secret).verify(received[1]!.body, received[1]!.headers) as { type: string }).type, 'user.created');
    await page.reload();
    const deliveries = page.getByRole('table');
    assert.match(await deliveries.innerText(), /user\.created[\s\S]*Delivered[\s\S]*HTTP 500 — Answered 500\.[\s\S]*HTTP 204/);
    await assertAccessible(page, "a webhook's page with its deliveries");

    await page.getByRole('link', { name: 'Rotate Secret', exact: true }).click();
    await assertAccessible(page, 'the Rotate Secret confirmation');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'New Signing Secret');
    assert.notEqual(await page.getByLabel('Signing Secret').inputValue(), secret);
    await page.getByRole('link', { name: 'Done', exact: true }).click();
    await page.getByRole('link', { name: 'Delete Webhook', exact: true }).click();
    await assertAccessible(page, 'the Delete Webhook confirmation');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/admin/webhooks?notice=deleted');
    assert.equal((await page.getByRole('status').innerText()).trim(), 'The webhook was deleted.');
    assert.match(await page.locator('main').innerText(), /No webhook is set up yet\./);
  });
});
