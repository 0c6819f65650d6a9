// Passkey ceremonies (WebAuthn) through @simplewebauthn/server: the options a browser gets, and the checks of what it
// sends back. The relying party is the site of LATCHKEY_BASE_URL; nothing here touches the database.
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Passkey } from './twostep.repo.ts';

/** The library, loaded with the first ceremony: most sign-ins never need it (it costs ~25 MB of memory). */
const library = () => import('@simplewebauthn/server');

/** How long a browser has for a ceremony: the options' timeout, and the life of the challenge's cookie. */
export const CEREMONY_SECONDS = 300;

export interface RelyingParty {
  /** The host name of LATCHKEY_BASE_URL: passkeys are bound to it. */
  id: string;
  /** The origin of LATCHKEY_BASE_URL: the only page a ceremony is accepted from. */
  origin: string;
  name: string;
}

export function relyingPartyOf(baseUrl: URL, name: string): RelyingParty {
  return { id: baseUrl.hostname, origin: baseUrl.origin, name };
}

const TRANSPORTS = new Set<AuthenticatorTransportFuture>(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

function transportsOf(passkey: Pick<Passkey, 'transports'>): AuthenticatorTransportFuture[] {
  return passkey.transports.split(',').filter((t): t is AuthenticatorTransportFuture => TRANSPORTS.has(t as AuthenticatorTransportFuture));
}

/**
 * Options to create a passkey. A passkey for logging in without a password must be discoverable (the browser finds it
 * without an email) and verify the person (a PIN or biometrics); others only have to be present. The user handle is
 * the user's id, which says nothing about the person.
 */
export async function registrationOptions(
  rp: RelyingParty,
  user: { id: string; email: string; name: string },
  existing: Passkey[],
  passwordless: boolean,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await library();
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.email,
    userDisplayName: user.name,
    userID: new TextEncoder().encode(user.id),
    timeout: CEREMONY_SECONDS * 1000,
    attestationType: 'none',
    // One authenticator is not registered twice on the same account.
    excludeCredentials: existing.map((passkey) => ({ id: passkey.credential_id, transports: transportsOf(passkey) })),
    authenticatorSelection: passwordless ? { residentKey: 'required', userVerification: 'required' } : { residentKey: 'preferred', userVerification: 'preferred' },
  });
}

/** Options to use a passkey: one of the user's (the second step), or any discoverable one of this site (logging in with a passkey alone). */
export async function authenticationOptions(rp: RelyingParty, passkeys: Passkey[] | 'discoverable'): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { generateAuthenticationOptions } = await library();
  return generateAuthenticationOptions({
    rpID: rp.id,
    timeout: CEREMONY_SECONDS * 1000,
    allowCredentials: passkeys === 'discoverable' ? [] : passkeys.map((passkey) => ({ id: passkey.credential_id, transports: transportsOf(passkey) })),
    // Alone, the passkey stands for both factors: the person must be verified, not only present.
    userVerification: passkeys === 'discoverable' ? 'required' : 'preferred',
  });
}

export interface NewPasskey {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string;
  backedUp: boolean;
}

/**
 * The browser's answer to registrationOptions, checked against the challenge sent, this site and its origin; null when
 * it does not hold. Why it failed is not returned: the library's messages quote the challenge.
 */
export async function verifiedRegistration(rp: RelyingParty, response: RegistrationResponseJSON, challenge: string, passwordless: boolean): Promise<NewPasskey | null> {
  try {
    const { verifyRegistrationResponse } = await library();
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: passwordless,
    });
    if (!verified.verified) return null;
    const { credential, credentialBackedUp } = verified.registrationInfo;
    // The browser's report that a passkey for use alone is indeed discoverable (credProps), when it gives one.
    if (passwordless && response.clientExtensionResults?.credProps?.rk === false) return null;
    return {
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: (response.response.transports ?? []).filter((t) => TRANSPORTS.has(t)).join(','),
      backedUp: credentialBackedUp,
    };
  } catch {
    return null;
  }
}

/** The browser's answer to authenticationOptions, signed by this passkey; the new signature counter, or null. */
export async function verifiedAuthentication(
  rp: RelyingParty,
  response: AuthenticationResponseJSON,
  challenge: string,
  passkey: Passkey,
  requireUserVerification: boolean,
): Promise<{ counter: number } | null> {
  try {
    const { verifyAuthenticationResponse } = await library();
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification,
      credential: { id: passkey.credential_id, publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')), counter: Number(passkey.counter), transports: transportsOf(passkey) },
    });
    return verified.verified ? { counter: verified.authenticationInfo.newCounter } : null;
  } catch {
    return null;
  }
}

/** The RFC 8176 amr value of a passkey: a key synced between devices is a software key, one bound to its device hardware. */
export function amrOfPasskey(passkey: Pick<Passkey, 'backed_up'>): 'swk' | 'hwk' {
  return passkey.backed_up === 1 ? 'swk' : 'hwk';
}

/** What a form field carries from the page's script: the browser's answer as JSON, or null when it is not one. */
export function parseCeremonyResponse<T extends RegistrationResponseJSON | AuthenticationResponseJSON>(field: string | undefined): T | null {
  if (!field) return null;
  try {
    const value = JSON.parse(field) as Partial<T> | null;
    // A credential id is base64url (at most 1,023 bytes, so 1,364 characters): anything else is not one.
    const ok = typeof value === 'object' && value !== null && typeof value.id === 'string' && /^[A-Za-z0-9_-]{1,1364}$/.test(value.id) && typeof value.response === 'object' && value.response !== null;
    return ok ? (value as T) : null;
  } catch {
    return null;
  }
}
