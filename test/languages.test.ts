// Which language a page is in: the browser's Accept-Language, the switcher (no script), a signed-in user's own choice;
// a language added later as one file, right-to-left included (a pseudo-locale written by the test).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../src/config.ts';
import { LOCALES_DIR, type Catalogue } from '../src/infra/i18n.ts';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { WebClient } from './support/client.ts';

/** The lang and dir of a page's html element. */
function htmlAttributes(page: string): { lang: string | undefined; dir: string | undefined } {
  const tag = /<html([^>]*)>/.exec(page)?.[1] ?? '';
  return { lang: /lang="([^"]+)"/.exec(tag)?.[1], dir: /dir="([^"]+)"/.exec(tag)?.[1] };
}

async function loginPage(lk: TestApp, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${lk.url}/login`, { headers });
  return response.text();
}

describe('the language of the pages', () => {
  let lk: TestApp;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
  });
  after(async () => {
    await lk.close();
  });

  it("follows the browser's Accept-Language among the languages there are, English otherwise", async () => {
    assert.deepEqual(htmlAttributes(await loginPage(lk, { 'accept-language': 'fr-CA,fr;q=0.9,en;q=0.5' })), { lang: 'fr', dir: 'ltr' });
    assert.equal(htmlAttributes(await loginPage(lk, { 'accept-language': 'de-AT' })).lang, 'de');
    assert.equal(htmlAttributes(await loginPage(lk, { 'accept-language': 'es;q=0.8, ja' })).lang, 'es');
    assert.equal(htmlAttributes(await loginPage(lk, { 'accept-language': 'ja, zh;q=0.8' })).lang, 'en');
    assert.equal(htmlAttributes(await loginPage(lk)).lang, 'en');
  });

  it('offers every language by its own name in a switcher of plain links, and remembers the pick', async () => {
    const page = await loginPage(lk, { 'accept-language': 'fr' });
    for (const [code, name] of [['en', 'English'], ['de', 'Deutsch'], ['es', 'Español']]) {
      assert.match(page, new RegExp(`<a href="\\?lang=${code}" lang="${code}" hreflang="${code}">${name}</a>`));
    }
    assert.match(page, /<span lang="fr" aria-current="true">Français<\/span>/);

    const picked = await fetch(`${lk.url}/login?lang=de`, { headers: { 'accept-language': 'fr' }, redirect: 'manual' });
    assert.equal(picked.status, 303);
    assert.equal(picked.headers.get('location'), '/login', 'the same page, without the parameter');
    const cookie = picked.headers.getSetCookie().find((line) => line.startsWith('latchkey_lang=de;'));
    assert.ok(cookie, 'the pick is kept in a cookie');
    assert.match(cookie, /HttpOnly/);
    const after = await loginPage(lk, { 'accept-language': 'fr', cookie: 'latchkey_lang=de' });
    assert.equal(htmlAttributes(after).lang, 'de', 'the pick outweighs the browser');

    const unknown = await fetch(`${lk.url}/login?lang=xx&next=%2Faccount`, { redirect: 'manual' });
    assert.equal(unknown.status, 303);
    assert.equal(unknown.headers.get('location'), '/login?next=%2Faccount', 'other parameters stay');
    assert.deepEqual(unknown.headers.getSetCookie(), [], 'a language there is not is not remembered');
  });

  it("a signed-in user's own language outweighs the browser and the switcher", async () => {
    const user = await lk.createUser({ email: 'hanna@example.com', name: 'Hanna Weber' });
    await lk.services.db.updateTable('users').set({ language: 'de' }).where('id', '=', user.id).execute();
    const client = new WebClient(lk.url);
    await client.get('/login');
    await client.post('/login', { email: user.email, password: GOOD_PASSWORD });
    const account = await client.request('GET', '/account', undefined, { 'accept-language': 'es' });
    assert.equal(htmlAttributes(account.html).lang, 'de');
    assert.match(account.html, /Abmelden/, 'the header in German');
  });
});

describe('a language added later', () => {
  let lk: TestApp;
  let dir: string;

  before(async () => {
    // Every catalogue there is, and a pseudo-locale written right to left: each English text mirrored in brackets.
    dir = mkdtempSync(path.join(tmpdir(), 'latchkey-locales-'));
    for (const code of ['en', 'fr', 'de', 'es']) writeFileSync(path.join(dir, `${code}.json`), readFileSync(path.join(LOCALES_DIR, `${code}.json`)));
    const pseudo = (catalogue: Catalogue): Catalogue =>
      Object.fromEntries(Object.entries(catalogue).map(([key, value]) => [key, typeof value === 'string' ? `‮[${value}]‬` : pseudo(value)]));
    const english = JSON.parse(readFileSync(path.join(LOCALES_DIR, 'en.json'), 'utf8')) as Catalogue;
    writeFileSync(path.join(dir, 'ar-XB.json'), JSON.stringify({ ...pseudo(english), language: { name: 'Pseudo RTL', dir: 'rtl' } }));
    lk = await startTestApp({ startWorker: false, env: { LATCHKEY_LOCALES_DIR: dir } });
  });
  after(async () => {
    await lk.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is one more file in the folder: offered, chosen by the browser, and laid out right to left', async () => {
    const page = await loginPage(lk, { 'accept-language': 'ar-XB' });
    assert.deepEqual(htmlAttributes(page), { lang: 'ar-XB', dir: 'rtl' });
    assert.match(page, /<span lang="ar-XB" aria-current="true">Pseudo RTL<\/span>/);
    assert.equal(htmlAttributes(await loginPage(lk, { 'accept-language': 'fr' })).dir, 'ltr');
  });
});

describe('a catalogue that cannot be read', () => {
  it('stops the start with one line naming the file, before the database is opened', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-locales-'));
    try {
      writeFileSync(path.join(dir, 'en.json'), readFileSync(path.join(LOCALES_DIR, 'en.json')));
      writeFileSync(path.join(dir, 'it.json'), '{ "language": { "name": "Italiano", }');
      await assert.rejects(startTestApp({ startWorker: false, env: { LATCHKEY_LOCALES_DIR: dir } }), (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /^LATCHKEY_LOCALES_DIR: .*it\.json is not valid JSON: /);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
