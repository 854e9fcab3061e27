/**
 * The one builder of RFC 6750 `WWW-Authenticate` challenges and RFC 9457 problem bodies.
 */
import type { BearerErrorCode, GuardErrorCode } from "./errors.js";

/** RFC 9457 problem details, as sent with `Content-Type: application/problem+json`. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** The stable reason code (see `GuardErrorCode`). */
  readonly code: GuardErrorCode;
  /** For 403: the missing scopes (at most as many as the challenge names). */
  readonly scope?: readonly string[];
  /** For 403, when more scopes were missing than are named: how many in all. */
  readonly missing_count?: number;
}

/** Media type for problem bodies. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The `type` URI prefix of every problem this package produces. */
export const PROBLEM_TYPE_PREFIX = "urn:agentwrit:guard:error:";

/**
 * Quotes a value as an RFC 7230 quoted-string: `"` and `\` are backslash-escaped; characters a
 * header cannot carry (controls, DEL, non-ASCII) are dropped so the header stays valid.
 */
export function quoteHeaderValue(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || c === 0x7f || c > 0x7e) {
      if (c === 0x09) out += " ";
      continue;
    }
    if (ch === '"' || ch === "\\") out += "\\";
    out += ch;
  }
  return out + '"';
}

export interface ChallengeInput {
  /** `null` gives a bare challenge (no credentials were presented, RFC 6750 §3.1). */
  readonly error: BearerErrorCode | null;
  readonly description?: string | undefined;
  readonly realm?: string | undefined;
  readonly scope?: readonly string[] | undefined;
  readonly resourceMetadataUrl?: string | undefined;
}

/** Builds `Bearer realm="…", error="…", error_description="…", scope="…", resource_metadata="…"`. */
export function buildChallenge(input: ChallengeInput): string {
  const params: string[] = [];
  if (input.realm !== undefined) params.push("realm=" + quoteHeaderValue(input.realm));
  if (input.error !== null) {
    params.push("error=" + quoteHeaderValue(input.error));
    if (input.description !== undefined) params.push("error_description=" + quoteHeaderValue(input.description));
  }
  if (input.scope !== undefined && input.scope.length > 0) params.push("scope=" + quoteHeaderValue(input.scope.join(" ")));
  if (input.resourceMetadataUrl !== undefined) params.push("resource_metadata=" + quoteHeaderValue(input.resourceMetadataUrl));
  return params.length === 0 ? "Bearer" : "Bearer " + params.join(", ");
}

export interface ProblemInput {
  readonly code: GuardErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly scope?: readonly string[];
  readonly missingCount?: number;
}

/** Builds the RFC 9457 body for a refusal. */
export function buildProblem(input: ProblemInput): ProblemDetails {
  const body: { -readonly [K in keyof ProblemDetails]: ProblemDetails[K] } = {
    type: PROBLEM_TYPE_PREFIX + input.code,
    title: input.title,
    status: input.status,
    detail: input.detail,
    code: input.code,
  };
  if (input.scope !== undefined && input.scope.length > 0) body.scope = [...input.scope];
  if (input.missingCount !== undefined) body.missing_count = input.missingCount;
  return body;
}
