/**
 * RFC 6750 §2.1 token extraction from a raw `Authorization` header value.
 */
import { describeValue, refuse } from "./refusal.js";

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
  if (typeof authorization !== "string") refuse("malformed_authorization", "the Authorization value is not a string");
  // "Bearer " + token + some whitespace; anything longer cannot hold an acceptable token.
  if (authorization.length > maxTokenBytes + 64) {
    refuse("token_too_large", `the Authorization header is ${String(authorization.length)} characters, over maxTokenBytes (${String(maxTokenBytes)})`);
  }
  const value = authorization.trim();
  if (value === "") refuse("missing_token", "the Authorization header is empty");
  // Several credentials (several headers joined with commas, whatever their schemes) are
  // ambiguous: refused before the scheme is looked at.
  if (value.includes(",") && severalCredentials(value)) {
    refuse("malformed_authorization", "the request carries several Authorization credentials (several headers, or a list)");
  }
  const scheme = SCHEME.exec(value);
  if (scheme === null) refuse("malformed_authorization", "the Authorization header does not start with an auth scheme");
  if ((scheme[1] ?? "").toLowerCase() !== "bearer") refuse("unsupported_scheme", `the Authorization scheme is ${describeValue(scheme[1])}, not Bearer`);
  const token = value.slice(scheme[0].length);
  if (token === "") refuse("malformed_authorization", "the Bearer header carries no token");
  if (!B64TOKEN.test(token)) refuse("malformed_authorization", "the Bearer token has characters RFC 6750 does not allow (spaces, commas, quotes…) or is not one token");
  if (token.length > maxTokenBytes) refuse("token_too_large", `the token is ${String(token.length)} bytes, over maxTokenBytes (${String(maxTokenBytes)})`);
  return token;
}

const CREDENTIAL_START = /^[A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]*(?:[ \t]+[^=\s]|[ \t]*$)/;

/**
 * True when a comma-separated value holds more than one credential: a later list element that
 * starts like `<scheme>` or `<scheme> <data>` rather than an `auth-param` (`name=value`).
 * Commas inside quoted strings (`Digest realm="a, b"`) do not count.
 */
function severalCredentials(value: string): boolean {
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === "\\") i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ",") {
      const rest = value.slice(i + 1).trimStart();
      if (rest === "" || rest.startsWith(",") || CREDENTIAL_START.test(rest)) return true;
    }
  }
  return false;
}
