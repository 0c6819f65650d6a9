// A software passkey for tests over HTTP: what a browser and its authenticator send back for WebAuthn options
// ("none" attestation; Ed25519 as Chromium's virtual authenticator picks it, or P-256), signed with a key made here —
// so the server's checks run on real signatures.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

type Cbor = number | string | Uint8Array | Map<number | string, Cbor>;

/**
 * The little CBOR (RFC 8949) an authenticator writes: integers, text, bytes and maps. Written here because loading
 * @simplewebauthn/server/helpers beside the server gives a second copy of its ASN.1 schemas, which then fail to parse.
 */
function cbor(value: Cbor): Buffer {
  const head = (major: number, length: number) => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 256) return Buffer.from([(major << 5) | 24, length]);
    return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([key, item]) => [cbor(key), cbor(item)])]);
}
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

export class SoftwarePasskey {
  private readonly keys;
  private readonly rawId = randomBytes(16);
  private counter = 0;
  private userHandle: string | undefined;

  constructor(
    /** Where the browser says the page was: the relying party's origin, unless a test plays another site. */
    private readonly origin: string,
    private readonly options: { userVerified?: boolean; synced?: boolean; algorithm?: 'EdDSA' | 'ES256' } = {},
  ) {
    this.keys = options.algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  }

  /** The public key as COSE (RFC 9053): an OKP Ed25519 key, or an EC2 P-256 key. */
  private coseKey(): Map<number, Cbor> {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    if (this.options.algorithm !== 'ES256') return new Map<number, Cbor>([[1, 1], [3, -8], [-1, 6], [-2, Buffer.from(jwk.x!, 'base64url')]]);
    return new Map<number, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
  }

  get id(): string {
    return b64url(this.rawId);
  }

  private flags(extra: number): Buffer {
    return Buffer.from([UP | (this.options.userVerified === false ? 0 : UV) | (this.options.synced ? BE | BS : 0) | extra]);
  }

  /** navigator.credentials.create() with these options, as @simplewebauthn/browser reports it. */
  register(options: PublicKeyCredentialCreationOptionsJSON): RegistrationResponseJSON {
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.rawId.length);
    const authData = Buffer.concat([sha256(options.rp.id!), this.flags(AT), uint32(this.counter), Buffer.alloc(16), idLength, this.rawId, cbor(this.coseKey())]);
    const attestation = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const clientData = JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: this.origin, crossOrigin: false });
    this.userHandle = options.user.id;
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64url(Buffer.from(clientData)), attestationObject: b64url(attestation), transports: ['internal'] },
      clientExtensionResults: { credProps: { rk: true } },
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get() with these options: the signature over the authenticator data and the client data. */
  authenticate(options: PublicKeyCredentialRequestOptionsJSON, rpId: string): AuthenticationResponseJSON {
    this.counter += 1;
    const authData = Buffer.concat([sha256(rpId), this.flags(0), uint32(this.counter)]);
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: this.origin, crossOrigin: false }));
    const signed = Buffer.concat([authData, sha256(clientData)]);
    // ES256 signatures are DER-encoded, as node signs them; Ed25519 hashes inside the algorithm.
    const signature = sign(this.options.algorithm === 'ES256' ? 'sha256' : null, signed, this.keys.privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64url(clientData), authenticatorData: b64url(authData), signature: b64url(signature), userHandle: this.userHandle },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
