/**
 * AgentWrit claims: type checks matching the broker's Go decoding, and the time, issuer,
 * audience and subject rules a resource server applies.
 */
import type { DelegationRecord } from "./delegation-record.js";
import { refuse } from "./refusal.js";
import { isValidScope } from "./scope.js";

/** The claims the broker writes (`TknClaims`), after type checking. */
export interface AgentWritClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud?: readonly string[];
  readonly exp: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly jti: string;
  readonly sid?: string;
  readonly scope: readonly string[];
  readonly task_id?: string;
  readonly orch_id?: string;
  readonly delegation_chain?: readonly DelegationRecord[];
  readonly chain_hash?: string;
}

/** The claim names the broker's Go decoder knows; it matches JSON keys to them case-insensitively. */
const CLAIM_NAMES: ReadonlySet<string> = new Set([
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "task_id", "orch_id", "delegation_chain", "chain_hash",
]);

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") refuse("malformed_claims");
  return v === "" ? undefined : v;
}

function checkRecord(v: unknown): DelegationRecord {
  if (typeof v !== "object" || v === null || Array.isArray(v)) refuse("malformed_claims");
  const r = v as Record<string, unknown>;
  if (typeof r.agent !== "string" || r.agent === "") refuse("malformed_claims");
  if (!isStringArray(r.scope)) refuse("malformed_claims");
  if (typeof r.delegated_at !== "string") refuse("malformed_claims");
  if (r.signature !== undefined && typeof r.signature !== "string") refuse("malformed_claims");
  const record: DelegationRecord =
    r.signature === undefined
      ? { agent: r.agent, scope: r.scope, delegated_at: r.delegated_at }
      : { agent: r.agent, scope: r.scope, delegated_at: r.delegated_at, signature: r.signature };
  return record;
}

/**
 * Checks claim types as the broker's decoder would (an `aud` or `scope` of the wrong type makes
 * the token invalid) and the presence rules of `Validate()`: non-empty `sub` and `jti`, `exp > 0`.
 */
export function checkClaimTypes(obj: Readonly<Record<string, unknown>>): AgentWritClaims {
  // Go would fill `scope` from a key "Scope" too; refuse such spellings rather than read the
  // token differently from the broker.
  for (const key of Object.keys(obj)) {
    if (!CLAIM_NAMES.has(key) && CLAIM_NAMES.has(key.toLowerCase())) refuse("malformed_claims");
  }
  const { iss, sub, aud, exp, nbf, iat, jti, scope, delegation_chain: chain, chain_hash: chainHash } = obj;
  if (iss !== undefined && iss !== null && typeof iss !== "string") refuse("malformed_claims");
  if (typeof sub !== "string" || sub === "") refuse("malformed_claims");
  if (typeof jti !== "string" || jti === "") refuse("malformed_claims");
  if (!isInt(exp) || exp <= 0) refuse("malformed_claims");
  if (nbf !== undefined && nbf !== null && !isInt(nbf)) refuse("malformed_claims");
  if (iat !== undefined && iat !== null && !isInt(iat)) refuse("malformed_claims");
  if (aud !== undefined && aud !== null && !isStringArray(aud)) refuse("malformed_claims");
  if (!Array.isArray(scope) || !scope.every(isValidScope)) refuse("malformed_claims");
  if (chainHash !== undefined && chainHash !== null && typeof chainHash !== "string") refuse("malformed_claims");
  let records: DelegationRecord[] | undefined;
  if (chain !== undefined && chain !== null) {
    if (!Array.isArray(chain)) refuse("malformed_claims");
    records = chain.map(checkRecord);
  }
  const claims: { -readonly [K in keyof AgentWritClaims]: AgentWritClaims[K] } = {
    iss: typeof iss === "string" ? iss : "",
    sub,
    exp,
    jti,
    scope,
  };
  if (isStringArray(aud) && aud.length > 0) claims.aud = aud;
  if (isInt(nbf)) claims.nbf = nbf;
  if (isInt(iat)) claims.iat = iat;
  const sid = optionalString(obj, "sid");
  if (sid !== undefined) claims.sid = sid;
  const taskId = optionalString(obj, "task_id");
  if (taskId !== undefined) claims.task_id = taskId;
  const orchId = optionalString(obj, "orch_id");
  if (orchId !== undefined) claims.orch_id = orchId;
  if (records !== undefined && records.length > 0) claims.delegation_chain = records;
  if (typeof chainHash === "string" && chainHash !== "") claims.chain_hash = chainHash;
  return claims;
}

/** Policy for the claim checks that follow type checking. */
export interface ClaimPolicy {
  readonly clockToleranceSec: number;
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly trustDomain: string | undefined;
  readonly allowNonAgentSubjects: boolean;
}

/**
 * Time rules as the broker applies them (valid through the second equal to `exp`; not yet valid
 * while `now < nbf`), widened by the configured tolerance.
 */
export function checkTimes(claims: AgentWritClaims, nowSec: number, toleranceSec: number): void {
  if (nowSec > claims.exp + toleranceSec) refuse("token_expired");
  if (claims.nbf !== undefined && claims.nbf !== 0 && nowSec < claims.nbf - toleranceSec) refuse("token_not_yet_valid");
}

const AGENT_SUBJECT = /^spiffe:\/\/([^/]+)\/agent\/[^/]/;

/** Issuer, audience and subject-kind rules. */
export function checkPolicy(claims: AgentWritClaims, policy: ClaimPolicy): void {
  if (policy.issuer !== undefined && claims.iss !== policy.issuer) refuse("issuer_mismatch");
  if (policy.audience !== undefined) {
    const aud = claims.aud;
    if (aud === undefined || !policy.audience.some((a) => aud.includes(a))) refuse("audience_mismatch");
  }
  const m = AGENT_SUBJECT.exec(claims.sub);
  if (m === null) {
    if (!policy.allowNonAgentSubjects) refuse("subject_not_agent");
  } else if (policy.trustDomain !== undefined && m[1] !== policy.trustDomain) {
    refuse("trust_domain_mismatch");
  }
}

/** The trust domain of an agent subject, or `undefined` for admin and app subjects. */
export function trustDomainOf(sub: string): string | undefined {
  return AGENT_SUBJECT.exec(sub)?.[1];
}
