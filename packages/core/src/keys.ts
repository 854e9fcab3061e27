/**
 * Ed25519 public keys from configuration: PEM SPKI, JWK, raw 32-byte base64, or a CryptoKey-free
 * list of those. Parsed and checked synchronously (so `createGuard` fails fast), imported through
 * jose once.
 */
import { calculateJwkThumbprint, importJWK } from "jose";
import { decodeBase64Loose, encodeBase64Url } from "./encoding.js";

/** An Ed25519 public JWK. */
export interface Ed25519PublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
  readonly kid?: string;
  readonly [extra: string]: unknown;
}

/** A public key as configured: PEM SPKI text, a JWK, or the raw 32-byte key in base64. */
export type PublicKeyInput = string | Ed25519PublicJwk;

/** A configured key after import. */
export interface TrustedKey {
  /** RFC 7638 thumbprint, which is the `kid` the broker writes. */
  readonly kid: string;
  readonly x: string;
  readonly cryptoKey: CryptoKey;
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING }.
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/**
 * Returns the unpadded base64url `x` of an Ed25519 public key given in any accepted form, or
 * throws a `TypeError` that says what is wrong (never echoing key text).
 */
export function publicKeyToX(input: unknown, label = "publicKey"): string {
  if (typeof input === "string") {
    const text = input.trim();
    if (text.includes("-----BEGIN")) {
      if (/PRIVATE KEY-----/.test(text)) throw new TypeError(`${label}: a private key was given; configure the public key only`);
      const m = /^-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----$/.exec(text);
      if (m === null) throw new TypeError(`${label}: PEM must be a single "PUBLIC KEY" (SPKI) block`);
      const der = decodeBase64Loose(m[1] ?? "");
      if (der === null || der.length !== 44 || !SPKI_PREFIX.every((b, i) => der[i] === b)) {
        throw new TypeError(`${label}: PEM is not an Ed25519 SubjectPublicKeyInfo`);
      }
      return encodeBase64Url(der.subarray(12));
    }
    const raw = decodeBase64Loose(text);
    if (raw === null || raw.length !== 32) {
      throw new TypeError(`${label}: expected PEM SPKI, a JWK, or the raw 32-byte Ed25519 key in base64`);
    }
    return encodeBase64Url(raw);
  }
  if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const jwk = input as Record<string, unknown>;
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") throw new TypeError(`${label}: JWK must have kty "OKP" and crv "Ed25519"`);
    if ("d" in jwk) throw new TypeError(`${label}: a private JWK was given; configure the public key only`);
    if (jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519") throw new TypeError(`${label}: JWK alg must be EdDSA`);
    if (typeof jwk.x !== "string") throw new TypeError(`${label}: JWK x must be a string`);
    const raw = decodeBase64Loose(jwk.x);
    if (raw === null || raw.length !== 32) throw new TypeError(`${label}: JWK x must be 32 bytes of base64url`);
    return encodeBase64Url(raw);
  }
  throw new TypeError(`${label}: expected PEM SPKI text, a JWK object, or raw base64`);
}

/** RFC 7638 thumbprint of an Ed25519 key given by its `x`. */
export function ed25519Kid(x: string): Promise<string> {
  return calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x }, "sha256");
}

/** Imports a key for verification and computes its kid. */
export async function importTrustedKey(x: string): Promise<TrustedKey> {
  const [kid, key] = await Promise.all([
    ed25519Kid(x),
    importJWK({ kty: "OKP", crv: "Ed25519", x }, "EdDSA", { extractable: false }),
  ]);
  return { kid, x, cryptoKey: key };
}
