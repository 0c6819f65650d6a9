// Authenticator app codes (TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps) through otpauth; pure rules, time passed in.
import { Secret, TOTP } from 'otpauth';

const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** One step before and after the current one: a phone clock a little off, or a code typed as it changed. */
const WINDOW = 1;

function totpOf(secret: string, label = '', issuer = 'Latchkey'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });
}

/** A new secret of 160 random bits (RFC 4226's recommendation), in base32 as authenticator apps take it. */
export function newAuthenticatorSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The time step a moment falls in. */
export function stepAt(now: number): number {
  return Math.floor(now / 1000 / PERIOD_SECONDS);
}

/** The code for a time step: what the app shows then (tests play the app with it). */
export function codeAt(secret: string, now: number): string {
  return totpOf(secret).generate({ timestamp: now });
}

/** The time step whose code this is, within one step of now, or null. Spaces a person typed are ignored. */
export function matchingStep(secret: string, typed: string, now: number): number | null {
  const code = typed.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totpOf(secret).validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? null : stepAt(now) + delta;
}

/** The otpauth:// address an app reads from the QR code. */
export function authenticatorUri(secret: string, accountName: string, issuer: string): string {
  return totpOf(secret, accountName, issuer).toString();
}

/** The QR code of that address as an SVG drawn here: no external service, no script. */
export async function qrCodeSvg(uri: string): Promise<string> {
  // Loaded on the first set-up, not at start: most processes never draw one.
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
