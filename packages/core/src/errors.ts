/**
 * One error type for every request failure, with a stable `code` per reason.
 * Configuration mistakes are `TypeError`s thrown by `createGuard`, never `GuardError`s.
 */
import { buildChallenge, buildProblem, type ProblemDetails } from "./challenge.js";

/** RFC 6750 error codes used in `WWW-Authenticate`. */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope";

/** The HTTP statuses a refusal can carry. */
export type GuardErrorStatus = 400 | 401 | 403 | 500 | 503;

interface CodeSpec {
  readonly status: GuardErrorStatus;
  /** RFC 6750 `error` attribute; `null` for a bare challenge, `undefined` for no challenge (500, 503). */
  readonly bearer: BearerErrorCode | null | undefined;
  readonly title: string;
  /** Safe, fixed text for the client: never contains token material. */
  readonly detail: string;
  /** What an operator should know or fix, when the refusal carries no more specific reason. */
  readonly reason: string;
}

/** Every reason a request can be refused, with its HTTP status and challenge. */
export const GUARD_ERROR_CODES = {
  missing_token: { status: 401, bearer: null, title: "Unauthorized", detail: "A Bearer token is required.", reason: "the request carries no Authorization header (or an empty one)" },
  unsupported_scheme: { status: 401, bearer: null, title: "Unauthorized", detail: "The Authorization scheme must be Bearer.", reason: "the Authorization header uses a scheme other than Bearer" },
  malformed_authorization: { status: 401, bearer: "invalid_request", title: "Unauthorized", detail: "The Authorization header must be exactly 'Bearer <token>'.", reason: "the Authorization header is not exactly one 'Bearer <token>'" },
  token_too_large: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token exceeds the maximum accepted size.", reason: "the token is larger than maxTokenBytes" },
  malformed_token: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not a well-formed compact JWS.", reason: "the token is not a compact JWS with canonical base64url JSON segments" },
  unsupported_alg: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's algorithm is not EdDSA.", reason: "the token's header alg is not exactly \"EdDSA\"" },
  unsupported_crit: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token has a critical header parameter this server does not understand.", reason: "the token's header carries crit, which this guard never accepts" },
  unknown_kid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's key id matches no trusted key.", reason: "the token's kid matches no configured key" },
  invalid_signature: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's signature is invalid.", reason: "the token's signature does not verify with any trusted key" },
  malformed_claims: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's claims are missing or of the wrong type.", reason: "a claim is missing, of the wrong type, or spelled so that Go's decoder would read it differently" },
  token_expired: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token has expired.", reason: "the token's exp is in the past (beyond clockToleranceSec)" },
  token_not_yet_valid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not valid yet.", reason: "the token's nbf is in the future (beyond clockToleranceSec)" },
  issuer_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token was issued by an issuer this server does not trust.", reason: "the token's iss is not the configured issuer" },
  audience_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not intended for this server.", reason: "the token's aud contains none of the configured audiences" },
  subject_not_agent: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's subject is not an AgentWrit agent.", reason: "the token's sub is not an agent SPIFFE ID (allowNonAgentSubjects is off)" },
  trust_domain_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The agent belongs to a trust domain this server does not accept.", reason: "the agent's SPIFFE trust domain is not the configured trustDomain" },
  token_inactive: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The broker reports the token as invalid, expired, released or revoked.", reason: "the broker says the token is no longer valid (released, revoked, renewed or expired)" },
  broker_rejected: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The broker rejected the token.", reason: "the broker refused to validate the token (HTTP 400, 401, 403 or 413)" },
  delegation_too_deep: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's delegation chain is deeper than this server allows.", reason: "the delegation chain is longer than maxDelegationDepth" },
  delegation_widened: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's delegation chain widens scope along the way.", reason: "a delegation record grants more than the record before it" },
  delegation_signature_invalid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "A delegation record's signature is invalid.", reason: "a delegation record's signature does not verify with the broker key" },
  chain_hash_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's chain_hash does not match its delegation chain.", reason: "chain_hash does not match the delegation chain" },
  delegator_not_allowed: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token was delegated by an agent this server does not accept.", reason: "a delegator in the chain is not in allowedDelegators" },
  insufficient_scope: { status: 403, bearer: "insufficient_scope", title: "Forbidden", detail: "The token does not grant the scope this request needs.", reason: "the agent's scope does not cover the requirement" },
  invalid_parameter: { status: 400, bearer: "invalid_request", title: "Bad Request", detail: "A value bound into a scope requirement is missing, empty or not allowed.", reason: "a value bound into a requirement placeholder is missing, empty, too long or unsafe" },
  broker_unavailable: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token broker could not be reached; try again shortly.", reason: "the broker could not be reached or answered with an error" },
  requirement_param_missing: { status: 500, bearer: undefined, title: "Internal Server Error", detail: "The server's scope requirement for this route is misconfigured.", reason: "a requirement placeholder has no matching route parameter: a wiring mistake in the server" },
  guard_not_mounted: { status: 500, bearer: undefined, title: "Internal Server Error", detail: "The server's authorization for this route is misconfigured.", reason: "a scope check ran with no AgentWrit guard before it on this request: a wiring mistake in the server" },
  broker_misconfigured: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token broker could not be reached; try again shortly.", reason: "the broker answered HTTP 404 or 405 on its validate route: brokerUrl is probably wrong (it is the base URL, without /v1)" },
  broker_claims_mismatch: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token broker returned claims for a different token.", reason: "the broker returned claims for a different token" },
  jwks_unavailable: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The key set could not be fetched; try again shortly.", reason: "the JWKS could not be fetched" },
  internal_error: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token could not be checked; try again shortly.", reason: "an unexpected error occurred while checking the token" },
} as const satisfies Record<string, CodeSpec>;

/** The stable reason codes of {@link GuardError}. */
export type GuardErrorCode = keyof typeof GUARD_ERROR_CODES;

/** Fields a caller may attach when raising a {@link GuardError}. */
export interface GuardErrorInit {
  readonly cause?: unknown;
  /** One short, token-free sentence for operators (logs, events); never sent to the client. */
  readonly reason?: string | undefined;
  /** Scopes to name in the challenge's `scope` attribute (403: every missing scope, within the caps). */
  readonly scope?: readonly string[] | undefined;
  readonly realm?: string | undefined;
  readonly resourceMetadataUrl?: string | undefined;
  /** Seconds for `Retry-After` on a 503. */
  readonly retryAfterSec?: number | undefined;
  /** Most scopes named in the challenge and the problem body. @default 16 */
  readonly maxChallengeScopes?: number | undefined;
}

const BRAND = Symbol.for("@agentwrit/guard.GuardError");

/** Default cap on the scopes a challenge names, and the byte budget a challenge stays under. */
export const DEFAULT_MAX_CHALLENGE_SCOPES = 16;
const MAX_CHALLENGE_BYTES = 4096;

/**
 * A refused request. `status`, `headers` (with `WWW-Authenticate` or `Retry-After`) and `problem`
 * (an RFC 9457 body) are ready to send. The message never contains token material; `reason` says
 * what an operator should know and is never sent.
 */
export class GuardError extends Error {
  override readonly name = "GuardError";
  readonly code: GuardErrorCode;
  readonly status: GuardErrorStatus;
  /** Alias of `status`, for frameworks that read `statusCode`. */
  readonly statusCode: GuardErrorStatus;
  /** For operators: why, in one token-free sentence. Never part of the response. */
  readonly reason: string;
  /** The RFC 6750 challenge, or `undefined` on a 500 or 503. */
  readonly wwwAuthenticate: string | undefined;
  /** Response headers to send with the error. */
  readonly headers: Readonly<Record<string, string>>;
  /** RFC 9457 problem details body. */
  readonly problem: ProblemDetails;
  /** Every scope the refusal concerns (for a 403, every missing one; the challenge names at most a few). */
  readonly scope: readonly string[];
  /** True for 4xx (the message is meant for the client); false for server-side failures. */
  readonly expose: boolean;
  declare readonly [BRAND]: true;

  constructor(code: GuardErrorCode, init: GuardErrorInit = {}) {
    const spec: CodeSpec = GUARD_ERROR_CODES[code];
    super(spec.detail, init.cause === undefined ? undefined : { cause: init.cause });
    Object.defineProperty(this, BRAND, { value: true });
    this.code = code;
    this.status = spec.status;
    this.statusCode = spec.status;
    this.expose = spec.status < 500;
    this.reason = init.reason ?? spec.reason;
    this.scope = init.scope ?? [];
    const named = challengeScopes(this.scope, init.maxChallengeScopes ?? DEFAULT_MAX_CHALLENGE_SCOPES);
    const headers: Record<string, string> = {};
    if (spec.bearer === undefined) {
      this.wwwAuthenticate = undefined;
      if (spec.status === 503) headers["Retry-After"] = String(init.retryAfterSec ?? 1);
    } else {
      const challenge = (scope: readonly string[]): string =>
        buildChallenge({
          error: spec.bearer ?? null,
          description: spec.bearer === null ? undefined : spec.detail,
          realm: init.realm,
          scope,
          resourceMetadataUrl: init.resourceMetadataUrl,
        });
      let text = challenge(named);
      // Stay under the budget whatever the scopes' lengths: drop named scopes from the end.
      while (text.length > MAX_CHALLENGE_BYTES && named.length > 0) {
        named.pop();
        text = challenge(named);
      }
      this.wwwAuthenticate = text;
      headers["WWW-Authenticate"] = text;
    }
    this.headers = headers;
    this.problem = buildProblem({
      code,
      status: spec.status,
      title: spec.title,
      detail: spec.detail,
      scope: named,
      ...(named.length < this.scope.length ? { missingCount: this.scope.length } : {}),
    });
  }
}

/** The first `max` scopes, for a challenge; the rest are only counted in the problem body. */
function challengeScopes(scope: readonly string[], max: number): string[] {
  return scope.slice(0, Math.max(0, max));
}

/** True for any `GuardError`, including one thrown by another copy of this package. */
export function isGuardError(x: unknown): x is GuardError {
  return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

/** The HTTP status a code maps to. */
export function statusOf(code: GuardErrorCode): GuardErrorStatus {
  return GUARD_ERROR_CODES[code].status;
}
