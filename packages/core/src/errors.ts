/**
 * One error type for every request failure, with a stable `code` per reason.
 * Configuration mistakes are `TypeError`s thrown by `createGuard`, never `GuardError`s.
 */
import { buildChallenge, buildProblem, type ProblemDetails } from "./challenge.js";

/** RFC 6750 error codes used in `WWW-Authenticate`. */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope";

interface CodeSpec {
  readonly status: 400 | 401 | 403 | 503;
  /** RFC 6750 `error` attribute; `null` for a bare challenge, `undefined` for no challenge (503). */
  readonly bearer: BearerErrorCode | null | undefined;
  readonly title: string;
  /** Safe, fixed text: never contains token material. */
  readonly detail: string;
}

/** Every reason a request can be refused, with its HTTP status and challenge. */
export const GUARD_ERROR_CODES = {
  missing_token: { status: 401, bearer: null, title: "Unauthorized", detail: "A Bearer token is required." },
  unsupported_scheme: { status: 401, bearer: null, title: "Unauthorized", detail: "The Authorization scheme must be Bearer." },
  malformed_authorization: { status: 401, bearer: "invalid_request", title: "Unauthorized", detail: "The Authorization header must be exactly 'Bearer <token>'." },
  token_too_large: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token exceeds the maximum accepted size." },
  malformed_token: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not a well-formed compact JWS." },
  unsupported_alg: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's algorithm is not EdDSA." },
  unsupported_crit: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token has a critical header parameter this server does not understand." },
  unknown_kid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's key id matches no trusted key." },
  invalid_signature: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's signature is invalid." },
  malformed_claims: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's claims are missing or of the wrong type." },
  token_expired: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token has expired." },
  token_not_yet_valid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not valid yet." },
  issuer_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token was issued by an issuer this server does not trust." },
  audience_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token is not intended for this server." },
  subject_not_agent: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's subject is not an AgentWrit agent." },
  trust_domain_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The agent belongs to a trust domain this server does not accept." },
  token_inactive: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The broker reports the token as invalid, expired, released or revoked." },
  broker_rejected: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The broker rejected the token." },
  delegation_too_deep: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's delegation chain is deeper than this server allows." },
  delegation_widened: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's delegation chain widens scope along the way." },
  delegation_signature_invalid: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "A delegation record's signature is invalid." },
  chain_hash_mismatch: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token's chain_hash does not match its delegation chain." },
  delegator_not_allowed: { status: 401, bearer: "invalid_token", title: "Unauthorized", detail: "The token was delegated by an agent this server does not accept." },
  insufficient_scope: { status: 403, bearer: "insufficient_scope", title: "Forbidden", detail: "The token does not grant the scope this request needs." },
  invalid_parameter: { status: 400, bearer: "invalid_request", title: "Bad Request", detail: "A value bound into a scope requirement is missing, empty or not allowed." },
  broker_unavailable: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token broker could not be reached; try again shortly." },
  broker_claims_mismatch: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token broker returned claims for a different token." },
  jwks_unavailable: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The key set could not be fetched; try again shortly." },
  internal_error: { status: 503, bearer: undefined, title: "Service Unavailable", detail: "The token could not be checked; try again shortly." },
} as const satisfies Record<string, CodeSpec>;

/** The stable reason codes of {@link GuardError}. */
export type GuardErrorCode = keyof typeof GUARD_ERROR_CODES;

/** Fields a caller may attach when raising a {@link GuardError}. */
export interface GuardErrorInit {
  readonly cause?: unknown;
  /** Scopes to name in the challenge's `scope` attribute (403: every missing scope). */
  readonly scope?: readonly string[];
  readonly realm?: string | undefined;
  readonly resourceMetadataUrl?: string | undefined;
  /** Seconds for `Retry-After` on a 503. */
  readonly retryAfterSec?: number;
}

const BRAND = Symbol.for("@agentwrit/guard.GuardError");

/**
 * A refused request. `status`, `headers` (with `WWW-Authenticate` or `Retry-After`) and `problem`
 * (an RFC 9457 body) are ready to send. The message never contains token material.
 */
export class GuardError extends Error {
  override readonly name = "GuardError";
  readonly code: GuardErrorCode;
  readonly status: 400 | 401 | 403 | 503;
  /** Alias of `status`, for frameworks that read `statusCode`. */
  readonly statusCode: 400 | 401 | 403 | 503;
  /** The RFC 6750 challenge, or `undefined` on a 503. */
  readonly wwwAuthenticate: string | undefined;
  /** Response headers to send with the error. */
  readonly headers: Readonly<Record<string, string>>;
  /** RFC 9457 problem details body. */
  readonly problem: ProblemDetails;
  /** Scopes named in the challenge (the missing ones, for a 403). */
  readonly scope: readonly string[];
  /** Always true; lets Express's default handler and others send the message to clients. */
  readonly expose = true;
  declare readonly [BRAND]: true;

  constructor(code: GuardErrorCode, init: GuardErrorInit = {}) {
    const spec: CodeSpec = GUARD_ERROR_CODES[code];
    super(spec.detail, init.cause === undefined ? undefined : { cause: init.cause });
    Object.defineProperty(this, BRAND, { value: true });
    this.code = code;
    this.status = spec.status;
    this.statusCode = spec.status;
    this.scope = init.scope ?? [];
    const headers: Record<string, string> = {};
    if (spec.bearer === undefined) {
      this.wwwAuthenticate = undefined;
      headers["Retry-After"] = String(init.retryAfterSec ?? 1);
    } else {
      this.wwwAuthenticate = buildChallenge({
        error: spec.bearer,
        description: spec.bearer === null ? undefined : spec.detail,
        realm: init.realm,
        scope: this.scope,
        resourceMetadataUrl: init.resourceMetadataUrl,
      });
      headers["WWW-Authenticate"] = this.wwwAuthenticate;
    }
    this.headers = headers;
    this.problem = buildProblem({ code, status: spec.status, title: spec.title, detail: spec.detail, scope: this.scope });
  }
}

/** True for any `GuardError`, including one thrown by another copy of this package. */
export function isGuardError(x: unknown): x is GuardError {
  return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

/** The HTTP status a code maps to. */
export function statusOf(code: GuardErrorCode): 400 | 401 | 403 | 503 {
  return GUARD_ERROR_CODES[code].status;
}
