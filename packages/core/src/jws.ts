/**
 * Strict structural parsing of a compact JWS, before any key or signature work: exactly three
 * canonical base64url segments, a JSON-object header with `alg` exactly `EdDSA`, no `crit`, a
 * string `kid` when present, a canonical 64-byte signature, and (when asked) a JSON-object payload.
 */
import { decodeSegment } from "#runtime";
import { decodeBase64UrlStrict, utf8Decoder } from "./encoding.js";
import { GoFieldNames, hasNonIntegerNumber } from "./go-names.js";
import { describeValue, refuse } from "./refusal.js";

export interface ParsedJws {
  /** The header segment as sent. */
  readonly headerSegment: string;
  readonly header: Readonly<Record<string, unknown>>;
  /** The header's facts came from `knownHeaders` (a trusted key signed this very header before). */
  readonly headerKnown: boolean;
  readonly kid: string | undefined;
  /** The decoded payload object (not yet verified), when parsing was asked to decode it. */
  readonly payload: Readonly<Record<string, unknown>> | undefined;
  /** The JWS signing input: the header and payload segments as sent (ASCII, checked). */
  readonly signingInput: string;
  /** The payload segment (canonical base64url, checked). */
  readonly payloadSegment: string;
  /** The signature segment (canonical base64url of 64 bytes, checked). */
  readonly signatureSegment: string;
}

/** The header fields the broker's Go decoder reads. */
const HEADER_FIELDS = new GoFieldNames(["alg", "typ", "kid"]);

/** Parses UTF-8 JSON text that must hold an object; `null` for anything else. */
function jsonObject(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function utf8(bytes: Uint8Array): string | null {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The claims object from the payload's bytes, read as Go reads it: strict UTF-8 JSON holding an
 * object, and no number written with a fraction or exponent (Go refuses `4.1e9` for an integer
 * claim; JavaScript would read it as one).
 */
export function payloadFromBytes(bytes: Uint8Array): Record<string, unknown> {
  const text = utf8(bytes);
  const payload = text === null ? null : jsonObject(text);
  if (text === null || payload === null) refuse("malformed_token", "the payload is not a UTF-8 JSON object");
  if (hasNonIntegerNumber(text)) refuse("malformed_claims", "a number in the claims has a fraction or an exponent, which the broker's Go decoder refuses for integers");
  return payload;
}

/**
 * The claims object from a payload segment that `parseCompactJws` found canonical (see
 * `payloadFromBytes`).
 */
export function payloadFromSegment(segment: string): Record<string, unknown> {
  const bytes = decodeSegment(segment);
  if (bytes === null) refuse("malformed_token", "the payload segment is not canonical base64url");
  return payloadFromBytes(bytes);
}

/** What a header segment says, once checked: the header object and its kid. */
interface HeaderFacts {
  readonly header: Readonly<Record<string, unknown>>;
  readonly kid: string | undefined;
}

/**
 * Decodes and checks a header segment: canonical base64url of a UTF-8 JSON object that no Go-fold
 * variant key would fill differently, `alg` exactly `EdDSA` (checked before anything else is
 * trusted), no `crit`, a string `kid` when present (`""` counts as none).
 */
function checkHeader(segment: string): HeaderFacts {
  const bytes = decodeBase64UrlStrict(segment);
  const text = bytes === null ? null : utf8(bytes);
  const header = text === null ? null : jsonObject(text);
  if (header === null) refuse("malformed_token", "the header segment is not canonical base64url of a UTF-8 JSON object");
  const variant = HEADER_FIELDS.variant(header);
  if (variant !== undefined) {
    refuse("malformed_token", `the header key ${describeValue(variant.key)} would be read as "${variant.field}" by the broker's Go decoder`);
  }
  if (header.alg !== "EdDSA") refuse("unsupported_alg", `the header alg is ${describeValue(header.alg)}; only "EdDSA" is accepted`);
  if (header.crit !== undefined) refuse("unsupported_crit", "the header carries crit, which this guard never accepts");
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== "string") refuse("malformed_token", "the header kid is not a string");
  return { header, kid: kid === "" ? undefined : kid };
}

/**
 * Header segments of tokens whose signature verified, with what `checkHeader` found in them. A
 * broker writes the same header (`alg`, `typ`, its `kid`) on every token, so the check is done
 * once per segment text rather than once per token. Only a trusted key's signature admits an
 * entry, so no client can fill it; at most `KNOWN_HEADERS_MAX` entries (emptied when full).
 */
const knownHeaders = new Map<string, HeaderFacts>();
const KNOWN_HEADERS_MAX = 16;

/** Records the header of a token whose signature verified with a trusted key. */
export function headerVerified(parsed: ParsedJws): void {
  if (parsed.headerKnown) return;
  if (knownHeaders.size >= KNOWN_HEADERS_MAX) knownHeaders.clear();
  knownHeaders.set(parsed.headerSegment, { header: Object.freeze(parsed.header), kid: parsed.kid });
}

// 64 bytes are 86 base64url characters; the last one carries 2 bits, so its low 4 bits are zero.
const ED25519_SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;
// A payload segment: base64url characters only (with `hasCanonicalTail`: canonical).
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
 * Parses a compact JWS: every check that needs no key (see the module comment).
 *
 * @param withPayload decode and check the payload now (broker mode reads the token's own claims
 *   before asking the broker); local verification reads it only once the signature verified
 *   (`payloadFromSegment`), so that a forged token is refused as such whatever its payload.
 */
export function parseCompactJws(token: string, withPayload: boolean): ParsedJws {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1 || second === first + 1) {
    refuse("malformed_token", "the token is not three non-empty dot-separated segments");
  }
  const headerSegment = token.slice(0, first);
  const known = knownHeaders.get(headerSegment);
  const { header, kid } = known ?? checkHeader(headerSegment);
  const signatureSegment = token.slice(second + 1);
  if (!ED25519_SIGNATURE.test(signatureSegment)) refuse("malformed_token", "the signature segment is not a canonical 64-byte Ed25519 signature");
  const payloadSegment = token.slice(first + 1, second);
  if (!SEGMENT.test(payloadSegment) || !hasCanonicalTail(payloadSegment)) refuse("malformed_token", "the payload segment is not canonical base64url");
  const payload = withPayload ? payloadFromSegment(payloadSegment) : undefined;
  return { headerSegment, header, headerKnown: known !== undefined, kid, payload, signingInput: token.slice(0, second), payloadSegment, signatureSegment };
}
