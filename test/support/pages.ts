// What the browser tests ask of a page again and again: where it is, its heading, and the login form filled in.
import type { Page } from 'playwright-core';

/** The page's path and query, as a person reads them in the address bar. */
export function pathOf(page: Page): string {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

/** The page's one level-1 heading. */
export async function heading(page: Page): Promise<string> {
  return (await page.getByRole('heading', { level: 1 }).innerText()).trim();
}

/** The login form, filled in and sent, as a person does it. */
export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForLoadState();
}
