// The users list's search on the database in use (SQLite's trigram index or PostgreSQL's pg_trgm): any part of a
// name or email, Unicode case, wildcards as text, filters with a search, and a count that stops at 10,000.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';
import { COUNT_CAP, searchKeyOf, type UserFilter } from '../src/modules/users/users.repo.ts';

describe('the users list search', () => {
  let lk: TestApp;
  let adminId: string;

  before(async () => {
    lk = await startTestApp({ startWorker: false });
    adminId = (await lk.createUser({ email: 'root@example.com', name: 'Ada Admin', admin: true })).id;
    for (const [email, name] of [
      ['elodie@example.com', 'Élodie Durand'],
      ['juergen@example.de', 'Jürgen Müller'],
      ['bob.smith@example.com', 'Bob Smith'],
      ['dave@example.org', 'Dave Smithers'],
      ['promo@example.com', 'Promo 100% Club'],
      ['promo1000@example.com', 'Promo 1000 Club'],
      ['a_b@example.com', 'Under Score'],
      ['axb@example.com', 'Ex Bee'],
      ['quote@example.com', 'The "Quoted" One'],
    ] as const) {
      await lk.createUser({ email, name });
    }
  });
  after(async () => {
    await lk.close();
  });

  const names = async (search: string, filters: UserFilter[] = []) =>
    (await lk.services.users.list({ search, filters, limit: 50 })).rows.map((user) => user.name).sort();

  it('finds any part of a name or email, of one, two or many characters', async () => {
    assert.deepEqual(await names('mith'), ['Bob Smith', 'Dave Smithers']);
    assert.deepEqual(await names('b.sm'), ['Bob Smith']);
    assert.deepEqual(await names('ple.de'), ['Jürgen Müller']);
    assert.deepEqual(await names('bob smith bob.smith@example.com'), ['Bob Smith'], 'the name and the email, as one text');
    assert.deepEqual(await names('ü'), ['Jürgen Müller']);
    assert.deepEqual(await names('dd'), []);
    assert.deepEqual(await names('.d'), ['Jürgen Müller']);
    assert.deepEqual(await names('no such person'), []);
  });

  it('"ÉLODIE" finds "Élodie": case does not matter, in all of Unicode', async () => {
    assert.deepEqual(await names('ÉLODIE'), ['Élodie Durand']);
    assert.deepEqual(await names('élo'), ['Élodie Durand']);
    assert.deepEqual(await names('MÜLLER'), ['Jürgen Müller']);
    assert.deepEqual(await names('Ü'), ['Jürgen Müller']);
  });

  it('wildcards and quotes are searched as text: "100%" is not "1000"', async () => {
    assert.deepEqual(await names('100%'), ['Promo 100% Club']);
    assert.deepEqual(await names('%'), ['Promo 100% Club']);
    assert.deepEqual(await names('a_b'), ['Under Score']);
    assert.deepEqual(await names('_'), ['Under Score']);
    assert.deepEqual(await names('"quoted"'), ['The "Quoted" One']);
    assert.deepEqual(await names('"'), ['The "Quoted" One']);
    assert.deepEqual(await names('\\'), []);
  });

  it('a search combines with every filter', async () => {
    const dave = (await lk.services.users.findByTypedEmail('dave@example.org'))!;
    await lk.services.users.archive(dave.id, COMMAND_LINE);
    assert.deepEqual(await names('smith', ['archived']), ['Dave Smithers']);
    assert.deepEqual(await names('smith', ['active']), ['Bob Smith']);
    assert.deepEqual(await names('example', ['admins']), ['Ada Admin']);
    assert.deepEqual(await names('ad', ['never-logged-in', 'admins']), ['Ada Admin']);
    const bob = (await lk.services.users.findByTypedEmail('bob.smith@example.com'))!;
    await lk.services.recovery.sendInstructions(bob.id, { userId: adminId }, 'admin');
    assert.deepEqual(await names('smith', ['reset-pending']), ['Bob Smith']);
    assert.deepEqual(await names('sm', ['reset-pending', 'active']), ['Bob Smith']);
    assert.deepEqual(await names('élodie', ['reset-pending']), []);
  });

  it('a renamed user is found by the new name only', async () => {
    const promo = (await lk.services.users.findByTypedEmail('promo1000@example.com'))!;
    await lk.services.users.update(promo.id, { email: 'gala@example.com', name: 'Gala Dinner', role: 'user' }, COMMAND_LINE);
    assert.deepEqual(await names('gala din'), ['Gala Dinner']);
    assert.deepEqual(await names('promo1000'), []);
    assert.deepEqual(await names('1000'), []);
  });

  it('a search that matches more than 10,000 users says "more than 10,000"; the whole list is counted exactly', async () => {
    const before = await lk.services.users.count();
    const extra = COUNT_CAP + 20;
    for (let start = 0; start < extra; start += 500) {
      const rows = [];
      for (let i = start; i < Math.min(extra, start + 500); i++) {
        const name = `Crowd Person ${i}`;
        const email = `crowd${i}@crowd.test`;
        rows.push({
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          email,
          name,
          role: 'user' as const,
          status: 'active' as const,
          password_hash: null,
          created_at: 0,
          last_login_at: null,
          password_changed_at: null,
          search_key: searchKeyOf(name, email),
        });
      }
      await lk.services.db.insertInto('users').values(rows).execute();
    }
    for (const search of ['crowd', 'CROWD PERSON', 'cr', 'd p']) {
      const { rows, total } = await lk.services.users.list({ search, limit: 50 });
      assert.equal(rows.length, 50, search);
      assert.ok(total > COUNT_CAP, `${search}: ${total}`);
    }
    assert.equal((await lk.services.users.list({ search: 'crowd person 1234', limit: 50 })).total, 1);
    assert.equal((await lk.services.users.list({ search: 'crowd person 123', limit: 50 })).total, 11);
    assert.equal((await lk.services.users.list({ filters: ['never-logged-in'], limit: 50 })).total, COUNT_CAP + 1);

    const admin = new WebClient(lk.url);
    await admin.get('/login');
    await admin.post('/login', { email: 'root@example.com', password: GOOD_PASSWORD });
    let text = textOf((await admin.get('/admin/users?q=crowd')).html);
    assert.match(text, /Page 1 \(more than 10,000 users in all\)/);
    assert.match(text, /Send to all more than 10,000 matching users/);
    text = textOf((await admin.get('/admin/users')).html);
    assert.match(text, new RegExp(`\\(${(before + extra).toLocaleString('en-US')} users in all\\)`));
    text = textOf((await admin.get('/admin/users?q=crowd+person+123')).html);
    assert.match(text, /Page 1 of 1 \(11 users in all\)/);
    const refused = await admin.post('/admin/users/bulk-reset', { scope: 'matching', q: 'crowd' });
    assert.match(textOf(refused.html), /More than 5,000 users match: a bulk action reaches at most 5,000/);
  });
});
