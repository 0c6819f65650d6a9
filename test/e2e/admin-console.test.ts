// The administration console in a real browser (Debian's Chromium): what an administrator does, step by
// step — find a user among many, send reset instructions, create, edit, archive, bulk send, set a password,
// end sessions, read and export the Audit Log — with the mail received by a real SMTP server, and the
// refusals: a user who is not an administrator, and a form posted from another site.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Locator, Page } from 'playwright-core';
import { GOOD_PASSWORD, startTestApp, type TestApp } from '../support/app.ts';
import { resetLinkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { assertAccessible } from '../support/axe.ts';
import { launchBrowser, openSession, type BrowserSession } from '../support/browser.ts';
import { COMMAND_LINE } from '../../src/modules/audit/audit.ts';
import { BROKEN_BY_PASSWORD, DEFAULT_RULES } from '../support/contract.ts';
import { pathOf, heading } from '../support/pages.ts';

const ADMIN = { email: 'margit.admin@example.com', name: 'Margit Halvorsen' };
const PER_PAGE = 50;

// The directory the administrator works in: 120 colleagues at one company, found by any part of a name or email.
const STAFF_DOMAIN = 'staff.example.com';
const FIRST = ['Aino', 'Bashir', 'Carmen', 'Dmitri', 'Esther', 'Farid', 'Greta', 'Hiroshi', 'Ines', 'Jonas', 'Keiko', 'Luca'];
const LAST = ['Andersen', 'Baptiste', 'Castillo', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen'];
const TARGET = { name: 'Zofia Kowalczyk', email: `zofia.kowalczyk@${STAFF_DOMAIN}` };
const OKAFORS = ['Ada Okafor', 'Ben Okafor', 'Cyril Okafor'];

const RULES = DEFAULT_RULES;

const emailOf = (name: string, domain = STAFF_DOMAIN) => `${name.toLowerCase().replace(/\s+/g, '.')}@${domain}`;

let browser: Browser;
let smtp: TestSmtpServer;
let lk: TestApp;
/** Every seeded staff member, as the list shows them. */
const staff: Array<{ id: string; name: string; email: string; role: 'user' | 'admin'; archived: boolean; loggedIn: boolean }> = [];

before(async () => {
  [browser, smtp] = await Promise.all([launchBrowser(), startSmtpServer()]);
  lk = await startTestApp({ smtpUrl: smtp.url });
  await lk.createUser({ ...ADMIN, admin: true });

  // 120 staff: 117 generated names, Zofia, and the three Okafors. Every 40th is an administrator, four are
  // archived, and five have logged in before; nobody else ever has.
  const names = FIRST.flatMap((first) => LAST.map((last) => `${first} ${last}`)).slice(0, 116);
  names.push(TARGET.name, ...OKAFORS);
  const now = Date.now();
  for (const [index, name] of names.entries()) {
    const role = index % 40 === 7 ? 'admin' : 'user';
    const user = await lk.services.users.create({ email: emailOf(name), name, password: null, role }, COMMAND_LINE);
    staff.push({ id: user.id, name, email: user.email, role, archived: false, loggedIn: false });
  }
  for (const index of [3, 28, 47, 90]) {
    await lk.services.users.archive(staff[index]!.id, COMMAND_LINE);
    staff[index]!.archived = true;
  }
  for (const index of [10, 20, 30, 40, 50]) {
    await lk.services.db.updateTable('users').set({ last_login_at: now - index * 60_000 }).where('id', '=', staff[index]!.id).execute();
    staff[index]!.loggedIn = true;
  }
  assert.equal(staff.length, 120);
});

after(async () => {
  await browser?.close();
  await lk?.close();
  await smtp?.close();
});

// ——— What a person sees and does ———

async function logIn(page: Page, email: string, password = GOOD_PASSWORD): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForLoadState();
}

/** The administrator, logged in in her own browser, on the Users page reached through "Settings". */
async function administrator(t: TestContext): Promise<BrowserSession> {
  const session = await openSession(browser, t, { baseURL: lk.url });
  await logIn(session.page, ADMIN.email);
  assert.equal(pathOf(session.page), '/account');
  await session.page.getByRole('banner').getByRole('link', { name: 'Settings', exact: true }).click();
  await session.page.waitForURL('**/admin/users');
  assert.equal(await heading(session.page), 'Users');
  return session;
}

/** A person (not an administrator) logged in in another browser. */
async function personLoggedIn(t: TestContext, email: string, password = GOOD_PASSWORD): Promise<BrowserSession> {
  const session = await openSession(browser, t, { baseURL: lk.url });
  await logIn(session.page, email, password);
  assert.equal(pathOf(session.page), '/account');
  return session;
}

async function search(page: Page, text: string, filters: { check?: string[]; uncheck?: string[] } = {}): Promise<void> {
  await page.getByRole('searchbox', { name: 'Search', exact: true }).fill(text);
  for (const label of filters.check ?? []) await page.getByRole('checkbox', { name: label, exact: true }).check();
  for (const label of filters.uncheck ?? []) await page.getByRole('checkbox', { name: label, exact: true }).uncheck();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForLoadState();
}

/** The users table, column by column, as read off the page. */
async function column(page: Page, header: 'Name' | 'Email' | 'Role' | 'Status' | 'Last Login' | 'Reset Pending'): Promise<string[]> {
  const headers = (await page.getByRole('columnheader').allInnerTexts()).map((text) => text.replace(/[▲▼]/g, '').trim());
  const index = headers.indexOf(header);
  assert.ok(index >= 0, `the list has a "${header}" column`);
  return page.locator(`table tbody tr > td:nth-child(${index + 1})`).allInnerTexts();
}

async function pagerText(page: Page): Promise<string> {
  return (await page.getByRole('navigation', { name: 'Pages' }).locator('span').innerText()).trim();
}

/** A value of the user's details ("Status", "Reset Pending", …) on the user's page. */
function detail(page: Page, term: string): Locator {
  return page.locator('dl.details').locator(`xpath=./dt[normalize-space()="${term}"]/following-sibling::dd[1]`);
}

/** A card of the user's page, by its heading. */
function card(page: Page, title: string): Locator {
  return page.locator('.card').filter({ has: page.getByRole('heading', { name: title, exact: true }) });
}

async function notice(page: Page): Promise<string> {
  return (await page.getByRole('status').innerText()).trim();
}

/** "Action" → "Send Password Reset Instructions": the menu is closed until the button is clicked. */
async function chooseSendReset(page: Page): Promise<void> {
  const item = page.getByRole('link', { name: 'Send Password Reset Instructions', exact: true });
  assert.equal(await item.isVisible(), false, 'the Action menu is closed at first');
  await page.locator('summary', { hasText: /^Action$/ }).click();
  await item.click();
  await page.waitForURL('**/send-reset');
  assert.equal(await heading(page), 'Send Password Reset Instructions');
  await assertAccessible(page, 'the confirmation of Send Password Reset Instructions');
}

/** Rows of an activity table (a user's recent activity, or the Audit Log) as objects by column header. */
async function activityRows(scope: Locator): Promise<Array<Record<string, string>>> {
  const headers = await scope.locator('thead th').allInnerTexts();
  const rows = scope.locator('tbody tr');
  const out: Array<Record<string, string>> = [];
  for (let i = 0; i < (await rows.count()); i++) {
    const cells = await rows.nth(i).locator('td').allInnerTexts();
    out.push(Object.fromEntries(headers.map((header, j) => [header.trim(), (cells[j] ?? '').trim()])));
  }
  return out;
}

/** The emailed link opened on the test server (the base URL says localhost, the browser uses 127.0.0.1). */
function onTestServer(link: string): string {
  const url = new URL(link);
  return new URL(url.pathname + url.search, lk.url).toString();
}

/** One CSV line's cells (RFC 4180 quoting). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  const pattern = /("(?:[^"]|"")*"|[^,]*)(,|$)/g;
  for (let match = pattern.exec(line); match; match = pattern.exec(line)) {
    const raw = match[1]!;
    cells.push(raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw);
    if (match[2] === '') break;
  }
  return cells;
}

async function openResetLinks(userId: string): Promise<number> {
  const row = await lk.services.db
    .selectFrom('reset_links')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ——— The journeys ———

describe('administration console in the browser', () => {
  it('an administrator finds a user among many and sends reset instructions in three clicks', { timeout: 30_000 }, async (t) => {
    const { page } = await administrator(t);
    const everyone = staff.length + 1;
    assert.match(await pagerText(page), new RegExp(`^Page 1 of ${Math.ceil(everyone / PER_PAGE)} \\(${everyone} users in all\\)$`));
    for (const header of ['Name', 'Email', 'Role', 'Status', 'Last Login', 'Password Changed', 'Reset Pending']) {
      await page.getByRole('columnheader', { name: header }).first().waitFor();
    }

    // Part of the surname, typed in capitals.
    await search(page, 'KOWALCZ');
    assert.equal(pathOf(page), '/admin/users?q=KOWALCZ&sort=name&dir=asc', 'the query lives in the URL');
    assert.deepEqual(await column(page, 'Name'), [TARGET.name]);
    assert.match(await pagerText(page), /^Page 1 of 1 \(1 user in all\)$/);
    assert.deepEqual(await column(page, 'Reset Pending'), ['No']);

    await page.getByRole('link', { name: TARGET.name, exact: true }).click();
    await page.waitForURL('**/admin/users/*');
    assert.equal(await heading(page), TARGET.name);
    assert.equal(await detail(page, 'Email').innerText(), TARGET.email);
    assert.equal(await detail(page, 'Reset Pending').innerText(), 'No');

    // One: Action. Two: Send Password Reset Instructions. Three: Confirm.
    await chooseSendReset(page);
    await page.getByText(`Send password reset instructions to ${TARGET.name} <${TARGET.email}>?`).waitFor();
    await page.getByRole('link', { name: 'Cancel', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=reset-sent');
    assert.equal(await notice(page), `Password reset instructions sent to ${TARGET.email}`);

    const mail = await smtp.waitForMail((m) => m.to.includes(TARGET.email), 10_000);
    assert.equal(mail.subject, `Password reset for ${TARGET.name}`);
    assert.match(mail.text, /An administrator sent you/);

    // The user's page now says a reset is pending, and the recent activity names the administrator.
    await page.reload();
    assert.equal(await detail(page, 'Reset Pending').innerText(), 'Yes');
    const issued = (await activityRows(card(page, 'Recent security activity'))).filter((row) => row.Event === 'Reset link issued');
    assert.equal(issued.length, 1);
    assert.equal(issued[0]!.User, TARGET.email);
    assert.equal(issued[0]!.By, ADMIN.email);
    assert.equal(issued[0]!.Details, 'by: admin');

    // The list agrees, and the mailed link works.
    await page.goto('/admin/users?q=KOWALCZ&sort=name&dir=asc');
    assert.deepEqual(await column(page, 'Reset Pending'), ['Yes']);
    const zofia = await openSession(browser, t, { baseURL: lk.url });
    await zofia.page.goto(onTestServer(resetLinkIn(mail)));
    assert.equal(await heading(zofia.page), 'Choose a new password');
  });

  it('filters, sorting and pages are driven from the list, and the query lives in the URL', { timeout: 30_000 }, async (t) => {
    const { page } = await administrator(t);
    const active = staff.filter((person) => !person.archived);
    const byEmail = [...staff].sort((a, b) => (a.email < b.email ? -1 : 1));

    // The whole company: 120 users, three pages.
    await search(page, STAFF_DOMAIN);
    assert.equal(await pagerText(page), 'Page 1 of 3 (120 users in all)');
    assert.equal((await column(page, 'Name')).length, PER_PAGE);

    // Filters, each a checkbox, applied with "Search".
    await search(page, STAFF_DOMAIN, { check: ['Archived'] });
    assert.deepEqual(await column(page, 'Name'), staff.filter((p) => p.archived).map((p) => p.name).sort());
    assert.deepEqual(new Set(await column(page, 'Status')), new Set(['Archived']));

    await search(page, STAFF_DOMAIN, { uncheck: ['Archived'], check: ['Active', 'Administrators'] });
    assert.deepEqual(await column(page, 'Name'), active.filter((p) => p.role === 'admin').map((p) => p.name).sort());
    assert.deepEqual(new Set(await column(page, 'Role')), new Set(['Administrator']));
    assert.equal(pathOf(page), `/admin/users?q=${STAFF_DOMAIN}&filter=active&filter=admins&sort=name&dir=asc`);

    await search(page, STAFF_DOMAIN, { uncheck: ['Active', 'Administrators'], check: ['Never logged in'] });
    assert.equal(await pagerText(page), `Page 1 of 3 (${staff.filter((p) => !p.loggedIn).length} users in all)`);
    await search(page, STAFF_DOMAIN, { uncheck: ['Never logged in'] });
    assert.equal(await pagerText(page), 'Page 1 of 3 (120 users in all)');

    // Two of the Okafors were sent a link: "Reset pending" finds exactly those.
    for (const name of OKAFORS.slice(0, 2)) {
      await lk.services.recovery.sendInstructions(staff.find((p) => p.name === name)!.id, COMMAND_LINE, 'cli');
    }
    await search(page, 'okafor');
    assert.deepEqual(await column(page, 'Reset Pending'), ['Yes', 'Yes', 'No']);
    await search(page, 'okafor', { check: ['Reset pending'] });
    assert.deepEqual(await column(page, 'Name'), OKAFORS.slice(0, 2));
    assert.equal(await page.getByRole('checkbox', { name: 'Reset pending', exact: true }).isChecked(), true, 'the filter stays checked');

    // Sorting: a column header sorts ascending, and clicked again, descending.
    await search(page, STAFF_DOMAIN, { uncheck: ['Reset pending'] });
    await page.getByRole('columnheader').getByRole('link', { name: 'Email', exact: true }).click();
    await page.waitForURL(/sort=email&dir=asc/);
    assert.deepEqual((await column(page, 'Email')).slice(0, 3), byEmail.slice(0, 3).map((p) => p.email));
    await page.getByRole('columnheader').getByRole('link', { name: 'Email ▲', exact: true }).click();
    await page.waitForURL(/sort=email&dir=desc/);
    const descending = [...byEmail].reverse();
    assert.deepEqual(await column(page, 'Email'), descending.slice(0, PER_PAGE).map((p) => p.email));
    await page.getByRole('columnheader').getByRole('link', { name: 'Email ▼', exact: true }).waitFor();

    // Pages: "Next" keeps the search and the order.
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Next', exact: true }).click();
    await page.waitForURL(/page=2/);
    assert.equal(await pagerText(page), 'Page 2 of 3 (120 users in all)');
    assert.deepEqual(await column(page, 'Email'), descending.slice(PER_PAGE, 2 * PER_PAGE).map((p) => p.email));
    const address = page.url();
    assert.equal(pathOf(page), `/admin/users?q=${STAFF_DOMAIN}&sort=email&dir=desc&page=2`);

    // The same address shows the same view: reloaded, and opened in another tab.
    await page.reload();
    assert.equal(await pagerText(page), 'Page 2 of 3 (120 users in all)');
    assert.deepEqual(await column(page, 'Email'), descending.slice(PER_PAGE, 2 * PER_PAGE).map((p) => p.email));
    const tab = await page.context().newPage();
    await tab.goto(address);
    assert.equal(await pagerText(tab), 'Page 2 of 3 (120 users in all)');
    assert.equal(await tab.getByRole('searchbox', { name: 'Search', exact: true }).inputValue(), STAFF_DOMAIN);
    assert.deepEqual(await column(tab, 'Email'), descending.slice(PER_PAGE, 2 * PER_PAGE).map((p) => p.email));
    await tab.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Next', exact: true }).click();
    await tab.waitForURL(/page=3/);
    assert.equal(await pagerText(tab), 'Page 3 of 3 (120 users in all)');
    assert.equal(await tab.getByRole('link', { name: 'Next', exact: true }).count(), 0, 'no "Next" on the last page');
    await tab.getByRole('link', { name: 'Previous', exact: true }).click();
    await tab.waitForURL(/page=2/);
    assert.equal(await pagerText(tab), 'Page 2 of 3 (120 users in all)');
  });

  it('"New User" refuses an email in use in another case; a changed email voids the outstanding link; an archived user is refused the action, then restored', { timeout: 30_000 }, async (t) => {
    await lk.createUser({ email: 'kenji.sato@example.jp', name: 'Kenji Sato' });
    const { page, allowStatus } = await administrator(t);

    await page.getByRole('link', { name: 'New User', exact: true }).click();
    await page.waitForURL('**/admin/users/new');
    assert.equal(await heading(page), 'New User');
    await page.getByLabel('Name', { exact: true }).fill('Hana Sato');
    await page.getByLabel('Email', { exact: true }).fill('KENJI.SATO@Example.JP');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'User' });
    allowStatus(409);
    await page.getByRole('button', { name: 'Create User', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await page.getByRole('alert').innerText(), 'This email is already used by another user.');
    assert.equal(await page.locator('#email-error').innerText(), 'This email is already used by another user.');
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Hana Sato', 'what was typed is kept');
    await assertAccessible(page, 'the New User form with an error');

    await page.getByLabel('Email', { exact: true }).fill('hana.sato@example.jp');
    // With a password: no invitation (the invitation journey has its own test).
    await page.getByLabel('Password (optional)', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Create User', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=created');
    assert.equal(await notice(page), 'The user was created.');
    assert.equal(await heading(page), 'Hana Sato');
    assert.equal(await detail(page, 'Email').innerText(), 'hana.sato@example.jp');
    await assertAccessible(page, 'a user\'s page');
    assert.equal(await detail(page, 'Status').innerText(), 'Active');
    assert.equal(await detail(page, 'Role').innerText(), 'User');
    const hana = (await lk.services.users.findByTypedEmail('hana.sato@example.jp'))!;

    // A link handed to Hana earlier; she opens it.
    const { link } = await lk.services.recovery.linkForHand(hana.id, COMMAND_LINE);
    const hanasBrowser = await openSession(browser, t, { baseURL: lk.url });
    await hanasBrowser.page.goto(onTestServer(link));
    assert.equal(await heading(hanasBrowser.page), 'Choose a new password');

    // Her address changes: the link stops working.
    await page.getByLabel('Email', { exact: true }).fill('Hana.Sato@Newmail.example.jp');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=saved');
    assert.equal(await notice(page), 'The changes were saved.');
    assert.equal(await detail(page, 'Email').innerText(), 'hana.sato@newmail.example.jp');
    assert.equal(await detail(page, 'Reset Pending').innerText(), 'No');
    hanasBrowser.allowStatus(404);
    await hanasBrowser.page.goto(onTestServer(link));
    assert.equal(await heading(hanasBrowser.page), 'This link is not valid');

    // "Cancel" on the confirmation sends nothing.
    await chooseSendReset(page);
    await page.getByRole('link', { name: 'Cancel', exact: true }).click();
    await page.waitForURL(`**/admin/users/${hana.id}`);
    assert.equal(await detail(page, 'Reset Pending').innerText(), 'No');
    assert.equal(await openResetLinks(hana.id), 0);

    // Archived, she cannot be sent instructions: the refusal says why.
    await page.getByRole('button', { name: 'Archive', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=archived');
    assert.equal(await notice(page), 'The user was archived: sessions ended and reset links voided.');
    assert.equal(await detail(page, 'Status').innerText(), 'Archived');
    await chooseSendReset(page);
    allowStatus(409);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Send Password Reset Instructions');
    assert.equal(await page.getByRole('alert').innerText(), 'hana.sato@newmail.example.jp is archived: an archived user cannot reset a password.');
    assert.equal(await openResetLinks(hana.id), 0);
    await page.getByRole('link', { name: 'Back to Hana Sato', exact: true }).click();
    await page.waitForURL(`**/admin/users/${hana.id}`);

    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=restored');
    assert.equal(await notice(page), 'The user was restored.');
    assert.equal(await detail(page, 'Status').innerText(), 'Active');
    await page.getByRole('button', { name: 'Archive', exact: true }).waitFor();
    assert.equal(smtp.mails.filter((m) => m.to.some((to) => to.startsWith('hana.sato@'))).length, 0, 'no mail to Hana');
  });

  it('bulk: reset instructions for the selected users, and for all that match, with a summary of what was refused and why', { timeout: 30_000 }, async (t) => {
    const domain = 'harbour-logistics.example';
    const [amara, bruno, chen] = await Promise.all(
      ['Amara Diallo', 'Bruno Costa', 'Chen Wei'].map((name) => lk.createUser({ email: emailOf(name, domain), name })),
    );
    await lk.services.users.archive(chen!.id, COMMAND_LINE);
    const { page } = await administrator(t);

    await search(page, domain);
    assert.deepEqual(await column(page, 'Name'), ['Amara Diallo', 'Bruno Costa', 'Chen Wei']);
    for (const name of ['Amara Diallo', 'Bruno Costa', 'Chen Wei']) {
      await page.getByRole('checkbox', { name: `Select ${name}`, exact: true }).check();
    }
    await page.getByRole('button', { name: 'Send Password Reset Instructions', exact: true }).click();
    await page.waitForURL('**/admin/users/bulk-reset');
    assert.equal(await heading(page), 'Send Password Reset Instructions');
    await page.getByText('Send password reset instructions to 3 users? Each gets a new link; earlier links stop working.', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Cancel', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Reset instructions: summary');
    assert.equal(await notice(page), 'Queued for 2 users; refused for 1.');
    await assertAccessible(page, 'the bulk reset summary');
    const list = (title: string) => page.locator(`xpath=//h2[normalize-space()="${title}"]/following-sibling::ul[1]/li`).allInnerTexts();
    assert.deepEqual(await list('Queued'), [`Amara Diallo <${amara!.email}>`, `Bruno Costa <${bruno!.email}>`]);
    assert.deepEqual(await list('Refused'), [`Chen Wei <${chen!.email}>: ${chen!.email} is archived: an archived user cannot reset a password.`]);

    const first = await Promise.all([amara!, bruno!].map((user) => smtp.waitForMail((m) => m.to.includes(user.email), 10_000)));
    assert.deepEqual(first.map((m) => m.subject), ['Password reset for Amara Diallo', 'Password reset for Bruno Costa']);
    assert.equal(smtp.mails.filter((m) => m.to.includes(chen!.email)).length, 0, 'no mail to the archived user');

    // "Send to all N matching users": the active ones of the same search.
    await page.getByRole('link', { name: 'Back to Users', exact: true }).click();
    await page.waitForURL('**/admin/users');
    await search(page, domain, { check: ['Active'] });
    await page.getByRole('button', { name: 'Send to all 2 matching users', exact: true }).click();
    await page.getByText('Send password reset instructions to 2 users? Each gets a new link; earlier links stop working.', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await notice(page), 'Queued for 2 users; refused for 0.');
    await Promise.all(
      [amara!, bruno!].map((user, i) => smtp.waitForMail((m) => m.to.includes(user.email) && m !== first[i], 10_000)),
    );
    // Only the newest link of each works: each has exactly one open link.
    assert.equal(await openResetLinks(amara!.id), 1);
    assert.equal(await openResetLinks(bruno!.id), 1);
  });

  it('"Set Password" applies the policy, ends the user\'s sessions and tells the user by email', { timeout: 30_000 }, async (t) => {
    const priya = await lk.createUser({ email: 'priya.raman@example.com', name: 'Priya Raman' });
    const priyasLaptop = await personLoggedIn(t, priya.email);
    const { page, allowStatus } = await administrator(t);
    await page.goto(`/admin/users/${priya.id}`);
    const setPassword = card(page, 'Set Password');
    assert.deepEqual(await setPassword.locator('#new-rules').getByRole('listitem').allInnerTexts(), RULES);

    allowStatus(400);
    await page.getByLabel('New Password', { exact: true }).fill('password');
    await page.getByLabel('Confirm New Password', { exact: true }).fill('password');
    await page.getByRole('button', { name: 'Set Password', exact: true }).click();
    await page.waitForLoadState();
    const refusal = page.getByRole('alert');
    assert.match(await refusal.innerText(), /^The password was not accepted:/);
    assert.deepEqual(await refusal.getByRole('listitem').allInnerTexts(), BROKEN_BY_PASSWORD);
    assert.equal(smtp.mails.filter((m) => m.to.includes(priya.email)).length, 0, 'a refused password sends nothing');

    await page.getByLabel('New Password', { exact: true }).fill('Brave-Otter-5150');
    await page.getByLabel('Confirm New Password', { exact: true }).fill('Brave-Otter-5150');
    await page.getByRole('button', { name: 'Set Password', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=password-set');
    assert.equal(await notice(page), 'The password was set. Every session of the user has ended and the user was told by email.');
    await card(page, 'Active sessions').getByText('No active session.', { exact: true }).waitFor();

    const mail = await smtp.waitForMail((m) => m.to.includes(priya.email), 10_000);
    assert.equal(mail.subject, 'Your password was changed');
    assert.match(mail.text, /by an administrator/);

    // Priya's laptop is sent to the login page; the new password lets her in, the old one does not.
    await priyasLaptop.page.reload();
    assert.equal(pathOf(priyasLaptop.page), '/login?next=%2Faccount');
    priyasLaptop.allowStatus(401);
    await logIn(priyasLaptop.page, priya.email, GOOD_PASSWORD);
    assert.equal(await priyasLaptop.page.getByRole('alert').innerText(), 'Wrong email or password.');
    await logIn(priyasLaptop.page, priya.email, 'Brave-Otter-5150');
    assert.equal(pathOf(priyasLaptop.page), '/account');
  });

  it('"End all sessions" ends the user\'s session in another browser', { timeout: 30_000 }, async (t) => {
    const lars = await lk.createUser({ email: 'lars.nilsson@example.se', name: 'Lars Nilsson' });
    const larsPhone = await personLoggedIn(t, lars.email);
    const { page } = await administrator(t);
    await search(page, 'nilsson');
    await page.getByRole('link', { name: 'Lars Nilsson', exact: true }).click();
    await page.waitForURL(`**/admin/users/${lars.id}`);

    const sessions = card(page, 'Active sessions');
    const rows = await activityRows(sessions);
    assert.equal(rows.length, 1, 'one active session');
    assert.equal(rows[0]!.Address, '127.0.0.1');
    const agent = await larsPhone.page.evaluate(() => navigator.userAgent);
    const version = /HeadlessChrome\/(\d+)/.exec(agent)?.[1];
    assert.equal(rows[0]!.Browser, `Headless Chrome ${version} on Linux`, 'the session shows the browser it came from');
    assert.equal(await sessions.locator('tbody td[title]').first().getAttribute('title'), agent, 'the full User-Agent on hover');

    await sessions.getByRole('button', { name: 'End all sessions', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=sessions-ended');
    assert.equal(await notice(page), 'Every session of the user has ended.');
    await card(page, 'Active sessions').getByText('No active session.', { exact: true }).waitFor();
    const ended = (await activityRows(card(page, 'Recent security activity'))).find((row) => row.Event === 'Sessions ended');
    assert.equal(ended?.By, ADMIN.email);

    await larsPhone.page.reload();
    assert.equal(pathOf(larsPhone.page), '/login?next=%2Faccount');
    // The administrator's own session goes on.
    await page.reload();
    assert.equal(await heading(page), 'Lars Nilsson');
  });

  it('the Settings menu reaches every administration page', async (t) => {
    const { page, allowStatus } = await administrator(t);
    const settings = page.getByRole('navigation', { name: 'Settings' });
    const labels = await settings.getByRole('link').allInnerTexts();
    assert.deepEqual(labels, ['Users', 'Outgoing Mail Servers', 'Mail Queue', 'Audit Log', 'Security', 'Applications', 'API Keys', 'Webhooks'], 'the menu of PRODUCT.md');
    assert.equal(await settings.getByRole('link', { name: 'Users', exact: true }).getAttribute('aria-current'), 'page');
    // Every entry opens its page, titled as the entry, and marked as the current one; then back to Users.
    for (const label of [...labels.filter((l) => l !== 'Users'), 'Users']) {
      await settings.getByRole('link', { name: label, exact: true }).click();
      await page.waitForLoadState();
      assert.equal(await heading(page), label);
      await assertAccessible(page, `the ${label} page`);
      assert.equal(await settings.getByRole('link', { name: label, exact: true }).getAttribute('aria-current'), 'page', label);
      assert.equal(await settings.locator('[aria-current]').count(), 1);
    }
    assert.equal(pathOf(page), '/admin/users');

    // The Applications pages as an administrator goes through them: the form (refused, then accepted), the
    // secret shown once, the application's page and its two confirmations.
    await settings.getByRole('link', { name: 'Applications', exact: true }).click();
    await page.getByRole('link', { name: 'New Application', exact: true }).click();
    await assertAccessible(page, 'the New Application form');
    await page.getByLabel('Name', { exact: true }).fill('Team Wiki');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('http://wiki.example.com/callback');
    await page.getByLabel('Confidential').check();
    allowStatus(400);
    await page.getByRole('button', { name: 'Register Application', exact: true }).click();
    await page.waitForLoadState();
    assert.match(await page.locator('.field-error').innerText(), /must start with https:\/\//);
    await assertAccessible(page, 'a refused New Application form');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('https://wiki.example.com/callback');
    await page.getByRole('button', { name: 'Register Application', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Application Registered');
    assert.match(await page.getByLabel('Client Secret').inputValue(), /^[\w-]{43}$/);
    await assertAccessible(page, 'the page that shows a client secret once');
    // A reload of that page registers nothing again and shows the application without its secret.
    await page.reload();
    assert.equal(await heading(page), 'Team Wiki');
    assert.equal(await page.getByLabel('Client Secret').count(), 0);
    assert.equal(await notice(page), 'The client secret was shown once and cannot be shown again. If it was not copied, rotate it.');
    await page.getByRole('link', { name: 'Back to Applications', exact: true }).click();
    assert.equal(await page.getByRole('link', { name: 'Team Wiki', exact: true }).count(), 1, 'registered once');
    await page.getByRole('link', { name: 'Team Wiki', exact: true }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Team Wiki');
    await assertAccessible(page, "an application's page");
    await page.getByRole('link', { name: 'Rotate Secret', exact: true }).click();
    await assertAccessible(page, 'the Rotate Secret confirmation');
    await page.getByRole('link', { name: 'Cancel', exact: true }).click();
    await page.getByRole('link', { name: 'Remove Application', exact: true }).click();
    await assertAccessible(page, 'the Remove Application confirmation');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/admin/applications?notice=removed');
    assert.equal(await notice(page), 'The application was removed.');
  });

  it('the Audit Log filters by user, event and dates, newest first with the acting administrator, pages, and exports CSV', { timeout: 30_000 }, async (t) => {
    const tomasz = await lk.createUser({ email: 'tomasz.wrobel@example.net', name: 'Tomasz Wróbel' });
    const { page } = await administrator(t);

    // Three things done to Tomasz, in this order.
    await page.goto(`/admin/users/${tomasz.id}`);
    await chooseSendReset(page);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=reset-sent');
    await page.getByRole('button', { name: 'Archive', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=archived');
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.waitForURL('**/admin/users/*?notice=restored');

    // The whole log has many pages (every seeded user was created).
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Audit Log', exact: true }).click();
    await page.waitForURL('**/admin/audit');
    const first = /^Page 1 of (\d+) \(([\d,]+) events in all\)$/.exec(await pagerText(page));
    assert.ok(first, 'the Audit Log has a pager');
    assert.ok(Number(first[2]!.replace(/,/g, '')) > staff.length);
    const pages = Number(first[1]);
    assert.ok(pages >= 3);
    const top = await activityRows(page.locator('.card').filter({ has: page.getByRole('navigation', { name: 'Pages' }) }));
    assert.equal(top.length, PER_PAGE);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Next', exact: true }).click();
    await page.waitForURL(/page=2/);
    assert.match(await pagerText(page), new RegExp(`^Page 2 of ${pages} `));

    // Filter by the user (typed in another case): newest first, the administrator in "By".
    await page.getByLabel('User', { exact: true }).fill('Tomasz.Wrobel@Example.NET');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(/user=/);
    const log = () => activityRows(page.locator('.card').filter({ has: page.getByRole('navigation', { name: 'Pages' }) }));
    const all = await log();
    assert.ok(all.every((row) => row.User === tomasz.email), 'only Tomasz');
    const done = all.filter((row) => ['User restored', 'User archived', 'Reset link issued', 'User created'].includes(row.Event!));
    assert.deepEqual(done.map((row) => row.Event), ['User restored', 'User archived', 'Reset link issued', 'User created'], 'newest first');
    assert.deepEqual(done.map((row) => row.By), [ADMIN.email, ADMIN.email, ADMIN.email, '']);
    const times = all.map((row) => row.Time);
    assert.deepEqual(times, [...times].sort().reverse(), 'times never increase down the page');

    // …and by event, and by dates (inclusive days, in UTC).
    await page.getByLabel('Event', { exact: true }).selectOption({ label: 'User archived' });
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From', { exact: true }).fill(today);
    await page.getByLabel('To', { exact: true }).fill(today);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(/type=user\.archived/);
    assert.equal(pathOf(page), `/admin/audit?user=Tomasz.Wrobel%40Example.NET&type=user.archived&account=&ip=&from=${today}&to=${today}`);
    const archived = await log();
    assert.equal(archived.length, 1);
    assert.equal(archived[0]!.Event, 'User archived');
    assert.equal(archived[0]!.By, ADMIN.email);
    assert.equal(archived[0]!.Address, '127.0.0.1');
    assert.match(await pagerText(page), /^Page 1 of 1 \(1 events? in all\)$/);

    await page.getByLabel('From', { exact: true }).fill(tomorrow);
    await page.getByLabel('To', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(new RegExp(`from=${tomorrow}`));
    await page.getByText('Nothing recorded yet.', { exact: true }).waitFor();

    // Export CSV downloads the filtered view.
    await page.getByLabel('From', { exact: true }).fill(today);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(new RegExp(`from=${today}`));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV', exact: true }).click()]);
    assert.equal(download.suggestedFilename(), `latchkey-audit-${today}.csv`);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.ok(csv.endsWith('\r\n'));
    const [header, ...rows] = csv.slice(0, -2).split('\r\n').map(csvCells);
    assert.deepEqual(header, ['time', 'event', 'type', 'user', 'by', 'ip', 'user agent', 'details']);
    assert.equal(rows.length, 1, 'the filtered view: one row');
    const [time, ...rest] = rows[0]!;
    assert.match(time!, new RegExp(`^${today}T\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`));
    assert.deepEqual(rest.slice(0, 5), ['User archived', 'user.archived', tomasz.email, ADMIN.email, '127.0.0.1']);
    assert.match(rest[5]!, /Chrome/, 'the administrator\'s browser');
    assert.equal(rest[6], 'sessionsEnded: 0');
  });

  it('refusals: a user who is not an administrator, and a form posted from another site', { timeout: 30_000 }, async (t) => {
    const target = staff.find((p) => p.name === OKAFORS[2])!;
    const omar = await lk.createUser({ email: 'omar.farouk@example.com', name: 'Omar Farouk' });

    // Omar is not an administrator: no Settings menu, and every console page refuses him plainly.
    const omarsBrowser = await personLoggedIn(t, omar.email);
    assert.equal(await omarsBrowser.page.getByRole('link', { name: 'Settings', exact: true }).count(), 0);
    for (const path of ['/admin/users', '/admin/audit', `/admin/users/${target.id}`, `/admin/users/${target.id}/send-reset`]) {
      omarsBrowser.allowStatus(403);
      const response = await omarsBrowser.page.goto(path);
      assert.equal(response?.status(), 403, path);
      assert.equal(await heading(omarsBrowser.page), 'Not allowed', path);
      assert.equal(await omarsBrowser.page.getByRole('alert').innerText(), 'This page is for administrators only. Your account does not have the Administrator role.');
      await assertAccessible(omarsBrowser.page, `the refusal of ${path}`);
    }

    // A page elsewhere hides a form that posts to the administrator's console, without the form's token.
    const forged = http.createServer((request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html lang="en"><head><title>You won!</title><link rel="icon" href="data:,"></head><body>
<form method="post" action="${lk.url}/admin/users/${target.id}/send-reset"><button type="submit">Claim your prize</button></form>
</body></html>`);
    });
    await new Promise<void>((resolve) => forged.listen(0, resolve));
    t.after(() => new Promise<void>((resolve) => forged.close(() => resolve())));
    const port = (forged.address() as AddressInfo).port;

    const { page, allowStatus } = await administrator(t);
    // Another origin on the same site (cookies go along): refused as a forged form. Another site (they do not):
    // the post comes from nobody, and nobody is sent to log in. Either way nothing happens.
    for (const [origin, site, cookiesGo] of [
      [`http://127.0.0.1:${port}`, 'same-site', true],
      [`http://localhost:${port}`, 'cross-site', false],
    ] as const) {
      await page.goto(`${origin}/prize`);
      allowStatus(403);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/send-reset')),
        page.getByRole('button', { name: 'Claim your prize', exact: true }).click(),
      ]);
      const sent = await response.request().allHeaders();
      assert.equal(sent['sec-fetch-site'], site, origin);
      assert.equal(/latchkey_session=/.test(sent.cookie ?? ''), cookiesGo, `the session cookie ${cookiesGo ? 'goes along' : 'stays behind'} from ${origin}`);
      assert.doesNotMatch(await response.request().postData() ?? '', /_csrf=/);
      await page.waitForLoadState();
      if (cookiesGo) {
        assert.equal(response.status(), 403, origin);
        assert.equal(await heading(page), 'Form expired', origin);
        assert.equal(await page.getByRole('alert').innerText(), 'This form has expired or did not come from Latchkey. Go back, reload the page and try again.');
        await assertAccessible(page, 'the "Form expired" page');
      } else {
        assert.equal(response.status(), 303, origin);
        assert.equal(response.headers().location, '/login?next=%2Faccount', origin);
      }
    }

    // Nothing was sent: no link, no mail queued, nothing in the log, and the administrator is still logged in.
    assert.equal(await openResetLinks(target.id), 0);
    const queued = await lk.services.db.selectFrom('mail_messages').select('id').where('user_id', '=', target.id).execute();
    assert.deepEqual(queued, []);
    const issued = await lk.services.db.selectFrom('audit_events').select('id').where('user_id', '=', target.id).where('type', '=', 'reset.link_issued').execute();
    assert.deepEqual(issued, []);
    assert.equal(smtp.mails.filter((m) => m.to.includes(target.email)).length, 0);
    await page.goto(`/admin/users/${target.id}`);
    assert.equal(await heading(page), target.name);
    assert.equal(await detail(page, 'Reset Pending').innerText(), 'No');
  });
});
