// Who may read /metrics: addresses and ranges from LATCHKEY_METRICS_ALLOW, or the bearer token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsAccess } from './metrics-access.ts';

const TOKEN = 'a-long-enough-metrics-token';

describe('metrics access', () => {
  it('the default list lets loopback in, over IPv4, IPv6 and IPv4 seen by a server on ::', () => {
    const access = new MetricsAccess(['127.0.0.1', '::1'], null);
    assert.ok(access.permits('127.0.0.1', undefined));
    assert.ok(access.permits('::1', undefined));
    assert.ok(access.permits('::ffff:127.0.0.1', undefined));
    assert.ok(!access.permits('127.0.0.2', undefined));
    assert.ok(!access.permits('10.1.2.3', undefined));
  });

  it('CIDR ranges of either family match the addresses inside them only', () => {
    const access = new MetricsAccess(['10.0.0.0/8', 'fd00::/8'], null);
    assert.ok(access.permits('10.255.0.1', undefined));
    assert.ok(access.permits('::ffff:10.0.0.7', undefined));
    assert.ok(access.permits('fd12:3456::1', undefined));
    assert.ok(!access.permits('11.0.0.1', undefined));
    assert.ok(!access.permits('fe80::1', undefined));
  });

  it('the bearer token lets in from anywhere; a wrong, partial or bare token does not', () => {
    const access = new MetricsAccess([], TOKEN);
    assert.ok(access.permits('198.51.100.4', `Bearer ${TOKEN}`));
    assert.ok(access.permits('198.51.100.4', `bearer  ${TOKEN}`));
    assert.ok(!access.permits('198.51.100.4', `Bearer ${TOKEN}x`));
    assert.ok(!access.permits('198.51.100.4', `Bearer ${TOKEN.slice(1)}`));
    assert.ok(!access.permits('198.51.100.4', TOKEN));
    assert.ok(!access.permits('198.51.100.4', undefined));
  });

  it('with no token set, no Authorization header opens it', () => {
    const access = new MetricsAccess([], null);
    assert.ok(!access.permits('198.51.100.4', 'Bearer '));
    assert.ok(!access.permits('198.51.100.4', 'Bearer null'));
  });
});
