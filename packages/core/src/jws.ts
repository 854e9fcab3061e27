/**
 * Strict structural parsing of a compact JWS, before any key or signature work: exactly three
 * canonical base64url segments, a JSON-object header with `alg` exactly `EdDSA`, no `crit`, a
 * string `kid` when present, and a JSON-object payload.
 */
import { decodeBase64UrlStrict, utf8Decoder } from "./encoding.js";
import { refuse } from "./refusal.js";

export interface ParsedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly kid: string | undefined;
  /** The decoded payload object, not yet verified. */
  readonly payload: Readonly<Record<string, unknown>>;
}

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64UrlStrict(segment);
  if (bytes === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(bytes));
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

export function parseCompactJws(token: string): ParsedJws {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1 || second === token.length - 1) {
    refuse("malformed_token");
  }
  const header = decodeJsonObject(token.slice(0, first));
  if (header === null) refuse("malformed_token");
  // `alg` is checked before anything else is trusted; only exactly "EdDSA" is acceptable.
  if (header.alg !== "EdDSA") refuse("unsupported_alg");
  if (header.crit !== undefined) refuse("unsupported_crit");
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== "string") refuse("malformed_token");
  // The signature segment must be a canonical encoding of exactly 64 bytes.
  const sig = decodeBase64UrlStrict(token.slice(second + 1));
  if (sig?.length !== 64) refuse("malformed_token");
  const payload = decodeJsonObject(token.slice(first + 1, second));
  if (payload === null) refuse("malformed_token");
  return { header, kid: kid === "" ? undefined : kid, payload };
}
