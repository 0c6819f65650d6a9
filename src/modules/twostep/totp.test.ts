// Authenticator codes as pure rules: the one-step window on each side, and nothing beyond it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { codeAt, matchingStep, newAuthenticatorSecret, stepAt } from './totp.ts';

const STEP = 30_000;
// A moment 10 seconds into a time step.
const NOW = Math.floor(Date.UTC(2026, 0, 1) / STEP) * STEP + 10_000;

describe('authenticator codes', () => {
  const secret = newAuthenticatorSecret();

  it('the current code and the codes one step either side are accepted, each for its own step', () => {
    assert.equal(matchingStep(secret, codeAt(secret, NOW), NOW), stepAt(NOW));
    assert.equal(matchingStep(secret, codeAt(secret, NOW - STEP), NOW), stepAt(NOW) - 1);
    assert.equal(matchingStep(secret, codeAt(secret, NOW + STEP), NOW), stepAt(NOW) + 1);
  });

  it('codes two steps away are refused, at the very edges of the window too', () => {
    const start = Math.floor(NOW / STEP) * STEP;
    assert.equal(matchingStep(secret, codeAt(secret, NOW - 2 * STEP), NOW), null);
    assert.equal(matchingStep(secret, codeAt(secret, NOW + 2 * STEP), NOW), null);
    // The first millisecond of a step: the step before is in, the one before that is out.
    assert.equal(matchingStep(secret, codeAt(secret, start - 1), start), stepAt(start) - 1);
    assert.equal(matchingStep(secret, codeAt(secret, start - STEP - 1), start), null);
    // The last millisecond of a step: the next step is in, the one after is out.
    assert.equal(matchingStep(secret, codeAt(secret, start + 2 * STEP - 1), start + STEP - 1), stepAt(start) + 1);
    assert.equal(matchingStep(secret, codeAt(secret, start + 2 * STEP), start + STEP - 1), null);
  });

  it('spaces are ignored; anything but six digits is refused without a look', () => {
    const code = codeAt(secret, NOW);
    assert.equal(matchingStep(secret, `${code.slice(0, 3)} ${code.slice(3)}`, NOW), stepAt(NOW));
    for (const typed of ['', '12345', '1234567', 'abcdef', `${code}0`]) assert.equal(matchingStep(secret, typed, NOW), null, typed);
  });
});
