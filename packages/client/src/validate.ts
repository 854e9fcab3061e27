/**
 * `POST /v1/token/validate` and `GET /v1/health`, which need no credentials. Unlike the Python
 * SDK, a 400, 413 or 5xx from validate is a `ProblemResponseError` (not a raw HTTP exception), and
 * admin and app tokens (no `task_id`, no `orch_id`) validate like any other.
 */
import type { AgentWritClaims, DelegationRecord } from "@agentwrit/guard";
import { AgentWritError } from "./errors.js";
import { BrokerConnection, intField, objectBody, stringField, type BrokerOptions } from "./http.js";

/** The broker's verdict: `valid` with the claims as it re-serialised them, or its generic error text. */
export type ValidateResult =
  | { readonly valid: true; readonly claims: AgentWritClaims }
  | { readonly valid: false; readonly error: string };

const VALIDATE = "/v1/token/validate";
const HEALTH = "/v1/health";

type Json = Readonly<Record<string, unknown>>;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

/** Reads the claims with the types the broker writes; anything else is the broker's fault, said loudly. */
function claimsOf(c: Json): AgentWritClaims {
  const bad = (key: string): never => {
    throw new AgentWritError(`the broker's validate answer has a malformed ${key} claim`);
  };
  const optionalString = (key: string): string | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === "string" ? v : bad(key);
  };
  const int = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isSafeInteger(v) ? v : bad(key);
  };
  const sub = optionalString("sub") ?? bad("sub");
  const jti = optionalString("jti") ?? bad("jti");
  const exp = int("exp") ?? bad("exp");
  if (!isStrings(c.scope)) bad("scope");
  const out: { -readonly [K in keyof AgentWritClaims]: AgentWritClaims[K] } = { iss: optionalString("iss") ?? "", sub, exp, jti, scope: c.scope as string[] };
  const nbf = int("nbf");
  const iat = int("iat");
  if (nbf !== undefined) out.nbf = nbf;
  if (iat !== undefined) out.iat = iat;
  if (c.aud !== undefined && c.aud !== null) out.aud = isStrings(c.aud) ? c.aud : bad("aud");
  for (const key of ["sid", "task_id", "orch_id", "chain_hash"] as const) {
    const v = optionalString(key);
    if (v !== undefined) out[key] = v;
  }
  if (c.delegation_chain !== undefined && c.delegation_chain !== null) {
    if (!Array.isArray(c.delegation_chain)) bad("delegation_chain");
    out.delegation_chain = (c.delegation_chain as unknown[]).map((r): DelegationRecord => {
      const rec = r as Partial<Record<keyof DelegationRecord, unknown>> | null;
      if (typeof rec !== "object" || rec === null || typeof rec.agent !== "string" || !isStrings(rec.scope) || typeof rec.delegated_at !== "string") {
        return bad("delegation_chain");
      }
      const base = { agent: rec.agent, scope: rec.scope, delegated_at: rec.delegated_at };
      return typeof rec.signature === "string" ? { ...base, signature: rec.signature } : base;
    });
  }
  return out;
}

export async function validateWith(conn: BrokerConnection, token: string): Promise<ValidateResult> {
  const answer = objectBody(await conn.call("POST", VALIDATE, { body: { token } }), VALIDATE);
  if (answer.valid === true) {
    const claims = answer.claims;
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return { valid: false, error: "Missing claims in valid response" };
    return { valid: true, claims: claimsOf(claims as Json) };
  }
  if (answer.valid === false) return { valid: false, error: typeof answer.error === "string" ? answer.error : "" };
  throw new AgentWritError(`the broker's answer on ${VALIDATE} has no boolean valid`);
}

/**
 * Asks the broker whether `token` is valid now (signature, expiry, revocation; not audience or
 * scope). HTTP 200 with `valid:false` is a result, not an error.
 */
export function validate(brokerUrl: string, token: string, options?: BrokerOptions): Promise<ValidateResult> {
  return validateWith(new BrokerConnection(brokerUrl, options), token);
}

/** `GET /v1/health`, as the Python SDK's `HealthStatus`. */
export interface HealthStatus {
  readonly status: string;
  readonly version: string;
  /** Whole seconds since the broker started. */
  readonly uptime: number;
  readonly dbConnected: boolean;
  readonly auditEventsCount: number;
}

export async function healthWith(conn: BrokerConnection): Promise<HealthStatus> {
  const h = objectBody(await conn.call("GET", HEALTH), HEALTH);
  if (typeof h.db_connected !== "boolean") throw new AgentWritError(`the broker's answer on ${HEALTH} has no boolean db_connected`);
  return {
    status: stringField(h, "status", HEALTH),
    version: stringField(h, "version", HEALTH),
    uptime: intField(h, "uptime", HEALTH),
    dbConnected: h.db_connected,
    auditEventsCount: intField(h, "audit_events_count", HEALTH),
  };
}
