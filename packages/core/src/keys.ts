/**
 * Ed25519 public keys from configuration: PEM SPKI, JWK, raw 32-byte base64, or a CryptoKey-free
 * list of those. Parsed and checked synchronously (so `createGuard` fails fast), imported through
 * jose once.
 */
import { importJWK } from "jose";
import { decodeBase64Loose, encodeBase64Url, utf8Encoder } from "./encoding.js";
import { sha256Sync } from "./sha256.js";

/** An Ed25519 public JWK. */
export interface Ed25519PublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
  readonly kid?: string;
  readonly [extra: string]: unknown;
}

/**
 * The part of Node's `KeyObject` the guard uses (read by shape, so that core imports nothing
 * from Node): `crypto.createPublicKey(pem)` can be passed as is.
 */
export interface KeyObjectLike {
  readonly type: string;
  readonly asymmetricKeyType?: string | undefined;
  export(options: { format: "jwk" }): unknown;
}

/**
 * A public key as configured: PEM SPKI text (real newlines or literal `\n`, as in an env file),
 * a JWK object or its JSON text, the raw 32-byte key in base64, or a Node `KeyObject`.
 */
export type PublicKeyInput = string | Ed25519PublicJwk | KeyObjectLike;

/** A configured key after import. */
export interface TrustedKey {
  /** RFC 7638 thumbprint, which is the `kid` the broker writes. */
  readonly kid: string;
  readonly x: string;
  readonly cryptoKey: CryptoKey;
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING }.
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** Known algorithm OIDs in an SPKI, to say what kind of key was given instead of Ed25519. */
const OTHER_KEY_KINDS: readonly [readonly number[], string][] = [
  [[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01], "an RSA key"],
  [[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01], "an EC (ECDSA) key"],
  [[0x2b, 0x65, 0x6e], "an X25519 key"],
  [[0x2b, 0x65, 0x6f], "an X448 key"],
  [[0x2b, 0x65, 0x71], "an Ed448 key"],
];

function contains(haystack: Uint8Array, needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function xFromPem(text: string, label: string): string {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new TypeError(`${label}: a private key was given; configure the public key only (agentwrit-guard pubkey prints it)`);
  if (text.includes("-----BEGIN CERTIFICATE-----")) throw new TypeError(`${label}: a certificate was given; configure the broker's Ed25519 public key (PEM "PUBLIC KEY")`);
  const m = /^-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----$/.exec(text);
  if (m === null) throw new TypeError(`${label}: PEM must be a single "PUBLIC KEY" (SPKI) block`);
  const der = decodeBase64Loose(m[1] ?? "");
  if (der === null) throw new TypeError(`${label}: the PEM body is not base64`);
  if (der.length !== 44 || !SPKI_PREFIX.every((b, i) => der[i] === b)) {
    const kind = OTHER_KEY_KINDS.find(([oid]) => contains(der, oid))?.[1];
    throw new TypeError(`${label}: PEM is ${kind ?? "not an Ed25519 public key"}; the broker signs with Ed25519`);
  }
  return encodeBase64Url(der.subarray(12));
}

function xFromJwk(jwk: Record<string, unknown>, label: string): string {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") {
    const kind = typeof jwk.kty === "string" ? `kty ${JSON.stringify(jwk.kty).slice(0, 20)}${typeof jwk.crv === "string" ? ` crv ${JSON.stringify(jwk.crv).slice(0, 20)}` : ""}` : "no kty";
    throw new TypeError(`${label}: JWK has ${kind}; the broker's key is kty "OKP", crv "Ed25519"`);
  }
  if ("d" in jwk) throw new TypeError(`${label}: a private JWK was given; configure the public key only`);
  if (jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519") throw new TypeError(`${label}: JWK alg must be EdDSA`);
  if (typeof jwk.x !== "string") throw new TypeError(`${label}: JWK x must be a string`);
  const raw = decodeBase64Loose(jwk.x);
  if (raw === null || raw.length !== 32) throw new TypeError(`${label}: JWK x must be 32 bytes of base64url`);
  return encodeBase64Url(raw);
}

function isKeyObjectLike(x: object): x is KeyObjectLike {
  return typeof (x as KeyObjectLike).export === "function" && typeof (x as KeyObjectLike).type === "string";
}

/**
 * Returns the unpadded base64url `x` of an Ed25519 public key given in any accepted form, or
 * throws a `TypeError` that says what is wrong (never echoing key text).
 */
export function publicKeyToX(input: unknown, label = "publicKey"): string {
  if (typeof input === "string") {
    // Literal "\n" escapes, as a one-line environment value carries them.
    const text = input.trim().replace(/(?:\\r)?\\n/g, "\n");
    if (text.includes("-----BEGIN")) return xFromPem(text, label);
    if (text.startsWith("{")) {
      let jwk: unknown;
      try {
        jwk = JSON.parse(text);
      } catch {
        throw new TypeError(`${label}: starts with "{" but is not JSON (a JWK as JSON text was expected)`);
      }
      return publicKeyToX(jwk, label);
    }
    const raw = decodeBase64Loose(text);
    if (raw === null || raw.length !== 32) {
      throw new TypeError(`${label}: expected PEM SPKI, a JWK (object or JSON text), a KeyObject, or the raw 32-byte Ed25519 key in base64`);
    }
    return encodeBase64Url(raw);
  }
  if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    if (isKeyObjectLike(input)) {
      if (input.type === "private") throw new TypeError(`${label}: a private KeyObject was given; pass crypto.createPublicKey(privateKey) instead`);
      if (input.type !== "public") throw new TypeError(`${label}: a ${input.type} KeyObject was given; an Ed25519 public key is needed`);
      if (input.asymmetricKeyType !== "ed25519") {
        throw new TypeError(`${label}: the KeyObject is ${String(input.asymmetricKeyType)}; the broker signs with Ed25519`);
      }
      return xFromJwk(input.export({ format: "jwk" }) as Record<string, unknown>, label);
    }
    return xFromJwk(input as Record<string, unknown>, label);
  }
  throw new TypeError(`${label}: expected PEM SPKI text, a JWK, a KeyObject, or raw base64`);
}

/**
 * RFC 7638 thumbprint of an Ed25519 key given by its `x`: the `kid` the broker writes. Computed
 * synchronously over the canonical member order.
 */
export function ed25519KidSync(x: string): string {
  return encodeBase64Url(sha256Sync(utf8Encoder.encode(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`)));
}

/** RFC 7638 thumbprint of an Ed25519 key given by its `x` (kept async for API compatibility). */
export function ed25519Kid(x: string): Promise<string> {
  return Promise.resolve(ed25519KidSync(x));
}

/**
 * Imports a key for verification and computes its kid. Extractable, as jose imports JWKS keys: the
 * key is public, and Node's fast path (`#runtime`) takes a `KeyObject` only from an extractable key.
 */
export async function importTrustedKey(x: string): Promise<TrustedKey> {
  const key = await importJWK({ kty: "OKP", crv: "Ed25519", x }, "EdDSA", { extractable: true });
  return { kid: ed25519KidSync(x), x, cryptoKey: key };
}
