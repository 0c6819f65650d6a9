// Unit tests of the per-message return path: it names its message only under the installation secret's tag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnPaths, sharesOrganization } from './return-path.ts';

const SECRET = 'an installation secret of at least 32 characters';
const ID = '01a253b5-728a-74e0-8ee0-eadaabfc6b5d';

describe('return paths (VERP)', () => {
  const paths = new ReturnPaths(SECRET, 'bounces.example.org');

  it('name the message, within the 64 characters SMTP allows before the @, and read back in any case', () => {
    const address = paths.addressFor(ID);
    assert.ok(address.split('@')[0]!.length <= 64);
    assert.equal(paths.messageIdOf(address), ID);
    assert.equal(paths.messageIdOf(address.toUpperCase()), ID);
  });

  it('with another tag, another domain or another secret, name nothing', () => {
    const address = paths.addressFor(ID);
    const tag = /-([0-9a-f]{20})@/.exec(address)![1]!;
    assert.equal(paths.messageIdOf(address.replace(tag, tag.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')))), null);
    assert.equal(paths.messageIdOf(address.replace('bounces.example.org', 'example.net')), null);
    assert.equal(new ReturnPaths(`${SECRET}!`, 'bounces.example.org').messageIdOf(address), null);
    assert.equal(paths.messageIdOf('postmaster@bounces.example.org'), null);
  });

  it('belong under the From address domain for spam filters', () => {
    assert.equal(sharesOrganization('Example <accounts@example.org>', 'bounces.example.org'), true);
    assert.equal(sharesOrganization('accounts@mail.example.org', 'bounces.example.org'), true);
    assert.equal(sharesOrganization('Latchkey <no-reply@localhost>', 'bounces.example.org'), false);
  });
});
