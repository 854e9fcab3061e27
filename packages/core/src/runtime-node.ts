/**
 * The two per-token operations a runtime may do natively, through `node:crypto` and `Buffer`: what
 * `#runtime` resolves to under the `node` condition. Every other runtime takes `runtime-web.ts`;
 * both export exactly these functions, with the same contracts.
 *
 * The callback form of `crypto.verify` runs on libuv's thread pool, as Web Crypto does, without
 * Web Crypto's per-call set-up (algorithm normalisation, key and buffer copies, a promise per
 * step); `Buffer` decodes base64url natively. bench/README.md has the measurements.
 */
/* eslint-disable no-restricted-imports -- the one Node-only module of the core, chosen by the "node" condition of #runtime */
import { Buffer } from "node:buffer";
import { KeyObject, verify } from "node:crypto";

/** The `KeyObject` of each imported key, made once (jose's keys live as long as the guard or its JWKS entry). */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/**
 * The key's `KeyObject`, or `undefined` for a non-extractable key: Node deprecates
 * `KeyObject.from` on those (DEP0204). The core imports its keys extractable (they are public),
 * as jose imports JWKS keys; anything else is verified through Web Crypto.
 */
function keyObjectOf(key: CryptoKey): KeyObject | undefined {
  let k = keyObjects.get(key);
  if (k === undefined && key.extractable) {
    k = KeyObject.from(key);
    keyObjects.set(key, k);
  }
  return k;
}

/**
 * The bytes of a JWS segment that `parseCompactJws` found canonical (unpadded base64url alphabet,
 * possible length, zero unused bits); `null` only for input that breaks that precondition.
 * (`Buffer` decodes leniently; on canonical input lenient and strict decoding agree.)
 */
export function decodeSegment(segment: string): Uint8Array | null {
  return segment.length % 4 === 1 ? null : Buffer.from(segment, "base64url");
}

/**
 * Verifies the Ed25519 signature of a compact JWS: `signingInput` is its ASCII header and payload
 * segments joined by a dot, `signatureSegment` a canonical 86-character signature segment, `key` a
 * public key imported by jose. Resolves `false` for a bad signature and for any failure to verify
 * (as jose's `compactVerify` does); never rejects.
 */
export function verifyJwsSignature(key: CryptoKey, signingInput: string, signatureSegment: string): Promise<boolean> {
  const signature = Buffer.from(signatureSegment, "base64url");
  if (signature.length !== 64) return Promise.resolve(false);
  // ASCII only (checked by parseCompactJws): latin1 is its UTF-8 encoding, from Buffer's pool.
  const data = Buffer.from(signingInput, "latin1");
  const k = keyObjectOf(key);
  if (k === undefined) return crypto.subtle.verify("Ed25519", key, signature, data).catch(() => false);
  return new Promise((resolve) => {
    try {
      verify(null, data, k, signature, (err, ok) => {
        resolve(err === null && ok);
      });
    } catch {
      resolve(false);
    }
  });
}
