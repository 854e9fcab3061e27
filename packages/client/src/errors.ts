/**
 * The error hierarchy of the Python SDK (`agentwrit.errors`), with the fields a TypeScript caller
 * needs: `AgentWritError` ⊃ `ProblemResponseError` (an RFC 7807 answer from the broker) ⊃
 * `AuthenticationError` (401), `AuthorizationError` (403), `RateLimitError` (429);
 * `TransportError` (network error, timeout) and `CryptoError` (a key that cannot be used).
 *
 * No message ever contains a token: messages are built from the broker's problem `title` and
 * `detail`, a status, a URL without credentials, or a fixed text.
 */

/** The broker's RFC 7807 body, as the Python SDK's `ProblemDetail`. */
export interface ProblemDetail {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  /** The broker's `error_code` (`unauthorized`, `forbidden`, `scope_violation`, …). */
  readonly errorCode?: string;
  /** The broker's `request_id` (its `X-Request-ID`). */
  readonly requestId?: string;
  readonly hint?: string;
}

/** The base class of every error this package throws. */
export class AgentWritError extends Error {
  override name = "AgentWritError";
}

/** A non-2xx answer from the broker. */
export class ProblemResponseError extends AgentWritError {
  override name = "ProblemResponseError";
  readonly status: number;
  readonly errorCode: string | undefined;
  readonly requestId: string | undefined;

  constructor(readonly problem: ProblemDetail) {
    super(`${problem.title}: ${problem.detail}`);
    this.status = problem.status;
    this.errorCode = problem.errorCode;
    this.requestId = problem.requestId;
  }
}

/** 401: bad app credentials, a launch token or nonce refused, a token the broker no longer accepts. */
export class AuthenticationError extends ProblemResponseError {
  override name = "AuthenticationError";
}

/** 403: a scope over the app's ceiling or the delegator's scope, a missing route scope. */
export class AuthorizationError extends ProblemResponseError {
  override name = "AuthorizationError";
}

/** 429: the broker's rate limit (app authentication: a burst of 3 per client id). */
export class RateLimitError extends ProblemResponseError {
  override name = "RateLimitError";
  constructor(
    problem: ProblemDetail,
    /** Seconds from the `Retry-After` header, when it gave any. */
    readonly retryAfter: number | undefined,
  ) {
    super(problem);
  }
}

/** The broker could not be reached, or did not answer within the timeout. */
export class TransportError extends AgentWritError {
  override name = "TransportError";
}

/** A key that cannot be used for Ed25519 registration. */
export class CryptoError extends AgentWritError {
  override name = "CryptoError";
}

/** Seconds from a `Retry-After` value (delta-seconds or an HTTP date), or `undefined`. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Builds the error for a non-2xx broker answer. A body that is not a problem degrades as in the
 * Python SDK: `type` "about:blank", `title` "HTTP <status>", the text (cut short) as `detail`.
 */
export function problemError(status: number, bodyText: string, path: string, headers: Headers): ProblemResponseError {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(bodyText);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: synthesised below
  }
  const requestId = str(body?.request_id) ?? headers.get("x-request-id") ?? undefined;
  const problem: { -readonly [K in keyof ProblemDetail]: ProblemDetail[K] } = {
    type: str(body?.type) ?? "about:blank",
    title: str(body?.title) ?? `HTTP ${String(status)}`,
    status,
    detail: str(body?.detail) ?? (body === undefined ? bodyText.slice(0, 200) : ""),
    instance: str(body?.instance) ?? path,
  };
  const errorCode = str(body?.error_code);
  if (errorCode !== undefined) problem.errorCode = errorCode;
  if (requestId !== undefined) problem.requestId = requestId;
  const hint = str(body?.hint);
  if (hint !== undefined) problem.hint = hint;
  switch (status) {
    case 401:
      return new AuthenticationError(problem);
    case 403:
      return new AuthorizationError(problem);
    case 429:
      return new RateLimitError(problem, parseRetryAfter(headers.get("retry-after")));
    default:
      return new ProblemResponseError(problem);
  }
}
