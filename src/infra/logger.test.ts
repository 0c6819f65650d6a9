// The log keeps request paths but never a reset token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskTokens } from './logger.ts';

describe('log masking', () => {
  it('masks the token in a reset link, whatever its first letters, and keeps the clean page path', () => {
    const token = 'new-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-x';
    assert.equal(maskTokens(`/reset-password/${token}`), '/reset-password/[token]');
    assert.equal(maskTokens('/reset-password/Zx9_tokenTokenTokenTokenTokenTokenToken0000?x=1'), '/reset-password/[token]?x=1');
    assert.equal(maskTokens('/reset-password/new'), '/reset-password/new');
    assert.equal(maskTokens('/callback?token=secret&next=/'), '/callback?token=[token]&next=/');
  });

  it('masks the token of invitation and address links too, and keeps their clean page paths', () => {
    const token = 'confirm-AbCdEfGhIjKlMnOpQrStUvWxYz012345678';
    for (const page of ['invitation', 'confirm-email', 'undo-email-change']) assert.equal(maskTokens(`/${page}/${token}`), `/${page}/[token]`);
    assert.equal(maskTokens('/invitation/new'), '/invitation/new');
    assert.equal(maskTokens('/confirm-email/confirm'), '/confirm-email/confirm');
    assert.equal(maskTokens('/undo-email-change/confirm'), '/undo-email-change/confirm');
  });
});
