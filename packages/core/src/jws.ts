/**
 * Strict structural parsing of a compact JWS, before any key or signature work: exactly three
 * canonical base64url segments, a JSON-object header with `alg` exactly `EdDSA`, no `crit`, a
 * string `kid` when present, a canonical 64-byte signature, and (when asked) a JSON-object payload.
 */
import { decodeBase64UrlStrict, utf8Decoder } from "./encoding.js";
import { refuse } from "./refusal.js";

export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly kid: string | undefined;
  /** The decoded payload object (not yet verified), when parsing was asked to decode it. */
  readonly payload: Readonly<Record<string, unknown>> | undefined;
}

/** Parses UTF-8 JSON bytes that must hold an object; `null` for anything else. */
export function jsonObjectFromBytes(bytes: Uint8Array): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64UrlStrict(segment);
  return bytes === null ? null : jsonObjectFromBytes(bytes);
}

// 64 bytes are 86 base64url characters; the last one carries 2 bits, so its low 4 bits are zero.
const ED25519_SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;
// A payload segment: base64url characters only (decoded and checked strictly when it is read).
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Unpadded base64url length and final character are canonical (unused low bits are zero). */
function hasCanonicalTail(segment: string): boolean {
  const rem = segment.length % 4;
  if (rem === 1) return false;
  if (rem === 0) return true;
  const last = B64URL.indexOf(segment.charAt(segment.length - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * @param withPayload decode and check the payload now (broker mode reads the token's own claims
 *   before asking the broker); local verification reads it from the verified JWS instead.
 */
export function parseCompactJws(token: string, withPayload: boolean): ParsedJws {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1 || second === first + 1) refuse("malformed_token");
  const header = decodeJsonObject(token.slice(0, first));
  if (header === null) refuse("malformed_token");
  // `alg` is checked before anything else is trusted; only exactly "EdDSA" is acceptable.
  if (header.alg !== "EdDSA") refuse("unsupported_alg");
  if (header.crit !== undefined) refuse("unsupported_crit");
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== "string") refuse("malformed_token");
  if (!ED25519_SIGNATURE.test(token.slice(second + 1))) refuse("malformed_token");
  const payloadSegment = token.slice(first + 1, second);
  let payload: Record<string, unknown> | undefined;
  if (withPayload) {
    const decoded = decodeJsonObject(payloadSegment);
    if (decoded === null) refuse("malformed_token");
    payload = decoded;
  } else if (!SEGMENT.test(payloadSegment) || !hasCanonicalTail(payloadSegment)) {
    refuse("malformed_token");
  }
  return { header, kid: kid === "" ? undefined : kid, payload };
}
