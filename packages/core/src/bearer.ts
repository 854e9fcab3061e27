/**
 * RFC 6750 §2.1 token extraction from a raw `Authorization` header value.
 */
import { refuse } from "./refusal.js";

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]*)(?:[ \t]+|$)/;

/**
 * The token of a well-formed `Bearer` header value, or `undefined` for anything else. Never
 * throws; use it only to hand the raw token on after `guard.authenticate` accepted the header
 * (e.g. as the MCP SDK's `AuthInfo.token`).
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  try {
    return extractBearer(authorization, Number.MAX_SAFE_INTEGER);
  } catch {
    return undefined;
  }
}

/**
 * Returns the token from `Bearer <token>` (scheme case-insensitive, exactly one token).
 * The size cap is applied before any other parsing.
 */
export function extractBearer(authorization: string | null | undefined, maxTokenBytes: number): string {
  if (authorization === undefined || authorization === null) refuse("missing_token");
  if (typeof authorization !== "string") refuse("malformed_authorization");
  // "Bearer " + token + some whitespace; anything longer cannot hold an acceptable token.
  if (authorization.length > maxTokenBytes + 64) refuse("token_too_large");
  const value = authorization.trim();
  if (value === "") refuse("missing_token");
  const scheme = SCHEME.exec(value);
  if (scheme === null) refuse("malformed_authorization");
  if ((scheme[1] ?? "").toLowerCase() !== "bearer") refuse("unsupported_scheme");
  const token = value.slice(scheme[0].length);
  if (token === "" || !B64TOKEN.test(token)) refuse("malformed_authorization");
  if (token.length > maxTokenBytes) refuse("token_too_large");
  return token;
}
