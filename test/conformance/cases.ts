/**
 * The conformance table. `source` says where each token comes from:
 * - `dev-broker`: issued by `@agentwrit/dev-broker` over its HTTP API (a variant broker sharing
 *   the main broker's signing key for the clock, audience, issuer and trust-domain cases);
 * - `rewrite`: a genuine dev-broker token with its header or signature replaced;
 * - `broker-key`: minted with the dev broker's own signing key (shapes the broker will not issue);
 * - `attacker-key`: signed by a key the guard does not trust;
 * - `literal`: a header value written here.
 */
import type { GuardErrorCode } from "@agentwrit/guard";
import type { Tokens } from "./fixtures.js";
import type { Authorization } from "./harness.js";

export interface Case {
  readonly name: string;
  readonly path?: string;
  readonly auth: (t: Tokens) => Authorization;
  readonly status: 200 | 400 | 401 | 403 | 500 | 503;
  /** The problem `code` (absent on success). */
  readonly code?: GuardErrorCode;
  /** Scopes a 403 challenge names. */
  readonly scope?: readonly string[];
  /** The exact `WWW-Authenticate`, where the table pins it rather than deriving it from the code. */
  readonly challenge?: string;
  readonly source: "dev-broker" | "rewrite" | "broker-key" | "attacker-key" | "literal";
}

const b = (name: string) => (t: Tokens): string => "Bearer " + (t[name] ?? "");
const inactive = { status: 401, code: "token_inactive", source: "dev-broker" } as const;
const badAlg = { status: 401, code: "unsupported_alg", source: "rewrite" } as const;

export const CASES: readonly Case[] = [
  // Success paths.
  { name: "valid agent token", auth: b("ok"), status: 200, source: "dev-broker" },
  { name: "scheme is case-insensitive", auth: (t) => "bEaReR " + (t.ok ?? ""), status: 200, source: "dev-broker" },
  { name: "exact scope held", path: "/main/exact", auth: b("ok"), status: 200, source: "dev-broker" },
  { name: "any-of: one alternative held", path: "/main/any", auth: b("ok"), status: 200, source: "dev-broker" },
  { name: "family requirement matched", path: "/main/family", auth: b("ok"), status: 200, source: "dev-broker" },
  { name: "template bound to the route param", path: "/main/orders/7", auth: b("ok"), status: 200, source: "dev-broker" },
  { name: "delegated token (depth 1)", path: "/main/exact", auth: b("delegated"), status: 200, source: "dev-broker" },
  // The Authorization header itself.
  { name: "no Authorization header", auth: () => undefined, status: 401, code: "missing_token", challenge: 'Bearer realm="conformance"', source: "literal" },
  { name: "empty Authorization header", auth: () => "", status: 401, code: "missing_token", source: "literal" },
  { name: "wrong scheme (Basic)", auth: () => "Basic YWdlbnQ6c2VjcmV0", status: 401, code: "unsupported_scheme", challenge: 'Bearer realm="conformance"', source: "literal" },
  { name: "Bearer without a token", auth: () => "Bearer", status: 401, code: "malformed_authorization", source: "literal" },
  { name: "two tokens in one header", auth: (t) => `Bearer ${t.ok ?? ""} ${t.ok ?? ""}`, status: 401, code: "malformed_authorization", source: "dev-broker" },
  { name: "duplicate Authorization headers", auth: (t) => [`Bearer ${t.ok ?? ""}`, `Bearer ${t.ok ?? ""}`], status: 401, code: "malformed_authorization", source: "dev-broker" },
  { name: "token not a JWS", auth: () => "Bearer abc.def", status: 401, code: "malformed_token", source: "literal" },
  { name: "oversized token", auth: () => "Bearer " + "a".repeat(9000), status: 401, code: "token_too_large", source: "literal" },
  // Signature and header.
  { name: "signature of another token", auth: b("swappedSignature"), status: 401, code: "invalid_signature", source: "rewrite" },
  { name: "signed by an attacker with the broker's kid", auth: b("attackerSigned"), status: 401, code: "invalid_signature", source: "attacker-key" },
  { name: "alg none, signature kept", auth: b("algNone"), ...badAlg },
  { name: "alg none, unsigned", auth: b("algNoneUnsigned"), status: 401, code: "unsupported_alg", source: "rewrite" },
  { name: "alg HS256", auth: b("algHS256"), ...badAlg },
  { name: "alg RS256", auth: b("algRS256"), ...badAlg },
  { name: "alg ES256", auth: b("algES256"), ...badAlg },
  { name: "alg eddsa (wrong case)", auth: b("algLowercase"), ...badAlg },
  { name: "alg missing", auth: b("algMissing"), ...badAlg },
  { name: "kid of another broker's key", auth: b("otherKey"), status: 401, code: "unknown_kid", source: "dev-broker" },
  { name: "kid rewritten to an untrusted key's", auth: b("kidRewritten"), status: 401, code: "unknown_kid", source: "rewrite" },
  { name: "crit header", auth: b("crit"), status: 401, code: "unsupported_crit", source: "broker-key" },
  // Claims.
  { name: "malformed claims (scope not a list)", auth: b("malformedClaims"), status: 401, code: "malformed_claims", source: "broker-key" },
  { name: "expired", auth: b("expired"), status: 401, code: "token_expired", source: "dev-broker" },
  { name: "not yet valid", auth: b("notYetValid"), status: 401, code: "token_not_yet_valid", source: "dev-broker" },
  { name: "wrong audience", auth: b("wrongAudience"), status: 401, code: "audience_mismatch", source: "dev-broker" },
  { name: "no audience", auth: b("noAudience"), status: 401, code: "audience_mismatch", source: "dev-broker" },
  { name: "wrong issuer", auth: b("wrongIssuer"), status: 401, code: "issuer_mismatch", source: "dev-broker" },
  { name: "wrong trust domain", auth: b("wrongTrustDomain"), status: 401, code: "trust_domain_mismatch", source: "dev-broker" },
  { name: "admin token (non-agent subject)", auth: b("admin"), status: 401, code: "subject_not_agent", source: "dev-broker" },
  { name: "app token (non-agent subject)", auth: b("app"), status: 401, code: "subject_not_agent", source: "dev-broker" },
  // Scope requirements.
  { name: "all-of: every missing scope named", path: "/main/all", auth: b("ok"), status: 403, code: "insufficient_scope", scope: ["write:data:x", "admin:all:x"], source: "dev-broker" },
  { name: "any-of: no alternative held", path: "/main/any-missing", auth: b("ok"), status: 403, code: "insufficient_scope", scope: ["admin:all:x", "admin:all:y"], source: "dev-broker" },
  { name: "family not held", path: "/main/family-missing", auth: b("ok"), status: 403, code: "insufficient_scope", scope: ["write:data:invoice-*"], source: "dev-broker" },
  { name: "template filled, not held", path: "/main/orders/8", auth: b("ok"), status: 403, code: "insufficient_scope", scope: ["write:data:order-8"], source: "dev-broker" },
  { name: "template value %2A decodes to *", path: "/main/orders/%2A", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  { name: "template value * literally", path: "/main/orders/*", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  { name: "template value %25 decodes to %", path: "/main/orders/%25", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  { name: "template value %20 decodes to a space", path: "/main/orders/%20", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  { name: "template value %7Bid%7D decodes to braces", path: "/main/orders/%7Bid%7D", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  { name: "template value empty (optional param absent)", path: "/main/opt", auth: b("ok"), status: 400, code: "invalid_parameter", source: "dev-broker" },
  // Wiring mistakes are the server's (500, no challenge), whatever the client sent. (A placeholder the route
  // does not declare is a TypeError at registration on Fastify and a 500 elsewhere: see wiring.test.ts.)
  { name: "requireScope with no guard before it", path: "/main/no-guard", auth: b("ok"), status: 500, code: "guard_not_mounted", source: "dev-broker" },
  { name: "requireScope with no guard before it, no token", path: "/main/no-guard", auth: () => undefined, status: 500, code: "guard_not_mounted", source: "literal" },
  // Delegation.
  { name: "delegation deeper than allowed (depth 2 > 1)", auth: b("tooDeep"), status: 401, code: "delegation_too_deep", source: "dev-broker" },
  { name: "delegation chain widens scope", auth: b("widened"), status: 401, code: "delegation_widened", source: "broker-key" },
  { name: "delegation record signed by another key", auth: b("forgedRecord"), status: 401, code: "delegation_signature_invalid", source: "broker-key" },
  { name: "chain_hash does not match the chain", auth: b("badChainHash"), status: 401, code: "chain_hash_mismatch", source: "broker-key" },
  // Broker verdicts.
  { name: "released token", auth: b("released"), ...inactive },
  { name: "token replaced by renewal", auth: b("renewed"), ...inactive },
  { name: "revoked: token (jti)", auth: b("revokedToken"), ...inactive },
  { name: "revoked: agent", auth: b("revokedAgent"), ...inactive },
  { name: "revoked: task", auth: b("revokedTask"), ...inactive },
  { name: "revoked: chain (root delegator)", auth: b("revokedChain"), ...inactive },
  // Infrastructure.
  { name: "broker down (closed port)", path: "/down/plain", auth: b("ok"), status: 503, code: "broker_unavailable", source: "dev-broker" },
  { name: "broker slow (never answers)", path: "/slow/plain", auth: b("ok"), status: 503, code: "broker_unavailable", source: "dev-broker" },
];
