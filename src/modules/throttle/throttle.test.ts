// The throttle's limits as the people they protect meet them, in memory and on a shared database.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config.ts';
import { migrateToLatest, openDatabase, type Db } from '../../infra/db.ts';
import { freshDatabaseUrl } from '../../../test/support/database.ts';
import { Throttle, type ThrottleSettings } from './throttle.ts';

const SETTINGS: ThrottleSettings = { formPostsPerMinute: 3, resetMailsPerHour: 2 };

async function times(count: number, run: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i++) await run();
}

describe('the throttle', () => {
  it('ten failed logins for one address from one IP address pause that pair, not the owner elsewhere', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    await times(9, () => throttle.loginFailed('target@example.com', '203.0.113.9'));
    assert.equal(await throttle.loginPaused('target@example.com', '203.0.113.9'), false, 'nine failures are not enough');
    await throttle.loginFailed('target@example.com', '203.0.113.9');
    assert.equal(await throttle.loginPaused('target@example.com', '203.0.113.9'), true);
    assert.equal(await throttle.loginPaused('target@example.com', '198.51.100.7'), false, 'the owner, elsewhere, may still log in');
    assert.equal(await throttle.loginPaused('other@example.com', '203.0.113.9'), false, 'other addresses are not paused');
  });

  it('a hundred failed logins for one address from everywhere pause the address, known or not', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    for (let i = 0; i < 100; i++) await throttle.loginFailed('nobody@example.com', `192.0.2.${i}`);
    assert.equal(await throttle.loginPaused('nobody@example.com', '198.51.100.7'), true);
  });

  it('checking whether a login is paused does not count as a failure', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    await times(9, () => throttle.loginFailed('patient@example.com', '203.0.113.9'));
    await times(20, () => throttle.loginPaused('patient@example.com', '203.0.113.9'));
    assert.equal(await throttle.loginPaused('patient@example.com', '203.0.113.9'), false);
  });

  it('reset mails stop at the hourly limit per account and IP address, and a refused request takes nothing', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    assert.equal(await throttle.takeResetMail('user-1', '203.0.113.9'), true);
    assert.equal(await throttle.takeResetMail('user-1', '203.0.113.9'), true);
    assert.equal(await throttle.takeResetMail('user-1', '203.0.113.9'), false, 'the third in an hour from here');
    assert.equal(await throttle.takeResetMail('user-1', '203.0.113.9'), false);
    // From everywhere the limit is four times as high: 8. Two are taken; the refusals above took nothing.
    for (let i = 0; i < 6; i++) assert.equal(await throttle.takeResetMail('user-1', `192.0.2.${i}`), true, `request ${i + 3}`);
    assert.equal(await throttle.takeResetMail('user-1', '198.51.100.7'), false, 'the ninth from anywhere');
    assert.equal(await throttle.takeResetMail('user-2', '203.0.113.9'), true, 'other accounts are not limited');
  });

  it('with the reset limit at 0, reset mails are not limited', async () => {
    const throttle = new Throttle('memory', { ...SETTINGS, resetMailsPerHour: 0 });
    for (let i = 0; i < 50; i++) assert.equal(await throttle.takeResetMail('user-1', '203.0.113.9'), true);
  });

  it('the fifth wrong current password in 15 minutes says the session should end', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    for (let i = 1; i <= 4; i++) assert.equal(await throttle.wrongCurrentPassword('user-1'), false, `guess ${i}`);
    assert.equal(await throttle.wrongCurrentPassword('user-1'), true);
  });

  it('form posts past the limit per minute from one address wait, each form counted apart; 0 turns it off', async () => {
    const throttle = new Throttle('memory', SETTINGS);
    await times(3, async () => assert.equal(await throttle.formPost('login', '203.0.113.9'), 0));
    const wait = await throttle.formPost('login', '203.0.113.9');
    assert.ok(wait >= 1 && wait <= 60, `waits ${wait} s`);
    assert.equal(await throttle.formPost('reset-request', '203.0.113.9'), 0, 'another form has its own count');
    assert.equal(await throttle.formPost('login', '198.51.100.7'), 0, 'another address has its own count');
    const off = new Throttle('memory', { ...SETTINGS, formPostsPerMinute: 0 });
    await times(100, async () => assert.equal(await off.formPost('login', '203.0.113.9'), 0));
  });

  describe('on the database, as several instances share it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-throttle-'));
    const opened: Db[] = [];
    const throttles: Throttle[] = [];
    after(async () => {
      throttles.forEach((throttle) => throttle.close());
      for (const db of opened) await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    async function instance(url: string): Promise<Throttle> {
      const db = openDatabase(loadConfig({ LATCHKEY_DATABASE_URL: url, LATCHKEY_DATA_DIR: dir }, dir).database);
      opened.push(db);
      await migrateToLatest(db);
      const throttle = new Throttle({ db }, SETTINGS);
      throttles.push(throttle);
      return throttle;
    }

    it('two throttles on the same database share their counts', async () => {
      const url = await freshDatabaseUrl(dir, 'shared.db');
      const first = await instance(url);
      const second = await instance(url);
      await times(5, () => first.loginFailed('shared@example.com', '203.0.113.9'));
      await times(5, () => second.loginFailed('shared@example.com', '203.0.113.9'));
      assert.equal(await first.loginPaused('shared@example.com', '203.0.113.9'), true, 'ten failures across two instances pause the pair');
      assert.equal(await first.takeResetMail('user-1', '203.0.113.9'), true);
      assert.equal(await second.takeResetMail('user-1', '203.0.113.9'), true);
      assert.equal(await first.takeResetMail('user-1', '203.0.113.9'), false);
      await times(3, () => first.formPost('reset-request', '203.0.113.9'));
      assert.ok((await second.formPost('reset-request', '203.0.113.9')) > 0, 'the fourth post, on the other instance, waits');
    });

    it('simultaneous reset requests on two instances let no more than the limit through', async () => {
      const url = await freshDatabaseUrl(dir, 'race.db');
      const [first, second] = [await instance(url), await instance(url)];
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? first : second).takeResetMail('user-9', '203.0.113.9')));
      assert.equal(answers.filter(Boolean).length, 2);
    });
  });
});
