/**
 * The two per-token operations a runtime may do natively, through Web APIs only: what `#runtime`
 * resolves to on every runtime but Node (Bun, Deno, workerd, browsers). Node takes
 * `runtime-node.ts` instead (the `node` condition of the package's `imports`); both export
 * exactly these functions, with the same contracts.
 */
import { decodeBase64UrlStrict, utf8Encoder } from "./encoding.js";

/**
 * The bytes of a JWS segment that `parseCompactJws` found canonical (unpadded base64url alphabet,
 * possible length, zero unused bits); `null` only for input that breaks that precondition.
 */
export function decodeSegment(segment: string): Uint8Array | null {
  return decodeBase64UrlStrict(segment);
}

/**
 * Verifies the Ed25519 signature of a compact JWS: `signingInput` is its ASCII header and payload
 * segments joined by a dot, `signatureSegment` a canonical 86-character signature segment, `key` a
 * public key imported by jose. Resolves `false` for a bad signature and for any failure to verify
 * (as jose's `compactVerify` does); never rejects.
 */
export function verifyJwsSignature(key: CryptoKey, signingInput: string, signatureSegment: string): Promise<boolean> {
  const signature = decodeBase64UrlStrict(signatureSegment);
  if (signature?.length !== 64) return Promise.resolve(false);
  return crypto.subtle
    .verify("Ed25519", key, signature as Uint8Array<ArrayBuffer>, utf8Encoder.encode(signingInput))
    .catch(() => false);
}
