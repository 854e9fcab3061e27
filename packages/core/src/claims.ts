/**
 * AgentWrit claims: type checks matching the broker's Go decoding, and the time, issuer,
 * audience and subject rules a resource server applies.
 */
import type { DelegationRecord } from "./delegation-record.js";
import { GoFieldNames } from "./go-names.js";
import { describeValue, refuse } from "./refusal.js";
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

/** The claim names the broker's Go decoder knows (`TknClaims`). */
const CLAIM_FIELDS = new GoFieldNames([
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "task_id", "orch_id", "delegation_chain", "chain_hash",
]);
/** The field names of a delegation record (`DelegRecord`). */
const RECORD_FIELDS = new GoFieldNames(["agent", "scope", "delegated_at", "signature"]);

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
function malformed(what: string): never {
  refuse("malformed_claims", what);
}

/** Refuses an object with a key that Go would read into a field under another spelling. */
function refuseVariants(obj: object, fields: GoFieldNames, where: string): void {
  const variant = fields.variant(obj);
  if (variant !== undefined) {
    malformed(`${where} key ${describeValue(variant.key)} would be read as "${variant.field}" by the broker's Go decoder`);
  }
}

function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") malformed(`claim ${key} is not a string`);
  return v === "" ? undefined : v;
}

function checkRecord(v: unknown, index: number): DelegationRecord {
  const where = `delegation_chain[${String(index)}]`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) malformed(`${where} is not an object`);
  refuseVariants(v, RECORD_FIELDS, where);
  const r = v as Record<string, unknown>;
  if (typeof r.agent !== "string" || r.agent === "") malformed(`${where}.agent is not a non-empty string`);
  if (!isStringArray(r.scope)) malformed(`${where}.scope is not a list of strings`);
  if (typeof r.delegated_at !== "string") malformed(`${where}.delegated_at is not a string`);
  if (r.signature !== undefined && typeof r.signature !== "string") malformed(`${where}.signature is not a string`);
  const record: DelegationRecord =
    r.signature === undefined
      ? { agent: r.agent, scope: r.scope, delegated_at: r.delegated_at }
      : { agent: r.agent, scope: r.scope, delegated_at: r.delegated_at, signature: r.signature };
  return record;
}

/**
 * Checks claim types as the broker's decoder would (an `aud` or `scope` of the wrong type makes
 * the token invalid) and the presence rules of `Validate()`: non-empty `sub` and `jti`, `exp > 0`.
 * A key that Go would read into a claim under another spelling (`"Scope"`, `"ſcope"`) is refused
 * rather than read differently from the broker.
 */
export function checkClaimTypes(obj: Readonly<Record<string, unknown>>): AgentWritClaims {
  refuseVariants(obj, CLAIM_FIELDS, "claim");
  const { iss, sub, aud, exp, nbf, iat, jti, scope, delegation_chain: chain, chain_hash: chainHash } = obj;
  if (iss !== undefined && iss !== null && typeof iss !== "string") malformed("claim iss is not a string");
  if (typeof sub !== "string" || sub === "") malformed("claim sub is missing or not a non-empty string");
  if (typeof jti !== "string" || jti === "") malformed("claim jti is missing or not a non-empty string");
  if (!isInt(exp) || exp <= 0) malformed("claim exp is missing or not a positive integer");
  if (nbf !== undefined && nbf !== null && !isInt(nbf)) malformed("claim nbf is not an integer");
  if (iat !== undefined && iat !== null && !isInt(iat)) malformed("claim iat is not an integer");
  if (aud !== undefined && aud !== null && !isStringArray(aud)) malformed("claim aud is not a list of strings (the broker always writes a list)");
  if (!Array.isArray(scope)) malformed("claim scope is missing or not a list");
  const bad = scope.findIndex((x) => !isValidScope(x));
  if (bad >= 0) malformed(`scope[${String(bad)}] is not action:resource:identifier`);
  if (chainHash !== undefined && chainHash !== null && typeof chainHash !== "string") malformed("claim chain_hash is not a string");
  let records: DelegationRecord[] | undefined;
  if (chain !== undefined && chain !== null) {
    if (!Array.isArray(chain)) malformed("claim delegation_chain is not a list");
    records = chain.map(checkRecord);
  }
  const claims: { -readonly [K in keyof AgentWritClaims]: AgentWritClaims[K] } = {
    iss: typeof iss === "string" ? iss : "",
    sub,
    exp,
    jti,
    scope: scope as string[],
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
  if (nowSec > claims.exp + toleranceSec) {
    refuse("token_expired", `the token expired at ${isoTime(claims.exp)}, ${String(nowSec - claims.exp)} s ago (clockToleranceSec ${String(toleranceSec)})`);
  }
  if (claims.nbf !== undefined && claims.nbf !== 0 && nowSec < claims.nbf - toleranceSec) {
    refuse("token_not_yet_valid", `the token is valid from ${isoTime(claims.nbf)}, ${String(claims.nbf - nowSec)} s from now: is this server's clock behind the broker's? (clockToleranceSec ${String(toleranceSec)})`);
  }
}

function isoTime(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString();
}

const AGENT_SUBJECT = /^spiffe:\/\/([^/]+)\/agent\/[^/]/;

/** Issuer, audience and subject-kind rules. */
export function checkPolicy(claims: AgentWritClaims, policy: ClaimPolicy): void {
  if (policy.issuer !== undefined && claims.iss !== policy.issuer) {
    refuse("issuer_mismatch", `iss is ${describeValue(claims.iss)}, expected ${describeValue(policy.issuer)} (the broker's AA_ISSUER)`);
  }
  if (policy.audience !== undefined) {
    const aud = claims.aud;
    if (aud === undefined || !policy.audience.some((a) => aud.includes(a))) {
      refuse("audience_mismatch", `aud is ${aud === undefined ? "absent" : describeValue(aud)}, expected one of ${describeValue(policy.audience)} (the broker's AA_AUDIENCE)`);
    }
  }
  const m = AGENT_SUBJECT.exec(claims.sub);
  if (m === null) {
    if (!policy.allowNonAgentSubjects) {
      refuse("subject_not_agent", `sub ${describeValue(claims.sub)} is not an agent SPIFFE ID (admin and app tokens need allowNonAgentSubjects: true)`);
    }
  } else if (policy.trustDomain !== undefined && m[1] !== policy.trustDomain) {
    refuse("trust_domain_mismatch", `the agent's trust domain is ${describeValue(m[1])}, expected ${describeValue(policy.trustDomain)}`);
  }
}

/** The trust domain of an agent subject, or `undefined` for admin and app subjects. */
export function trustDomainOf(sub: string): string | undefined {
  return AGENT_SUBJECT.exec(sub)?.[1];
}
