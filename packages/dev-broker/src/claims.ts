/** `TknClaims`: the broker's token claims, their Go field order and omitempty rules. */
import type { DelegationRecord } from "@agentwrit/guard";
import { decodeStrict, goJsonStringify, type DecodedRecord } from "./go-json.js";

/** Claims as the broker holds them. Optional fields are omitted from JSON when empty. */
export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud?: readonly string[] | undefined;
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly sid?: string | undefined;
  readonly scope: readonly string[] | null;
  readonly task_id?: string | undefined;
  readonly orch_id?: string | undefined;
  readonly delegation_chain?: readonly DelegationRecord[] | undefined;
  readonly chain_hash?: string | undefined;
}

const CLAIMS_SCHEMA = {
  iss: "string",
  sub: "string",
  aud: "strings",
  exp: "int",
  nbf: "int",
  iat: "int",
  jti: "string",
  sid: "string",
  scope: "strings",
  task_id: "string",
  orch_id: "string",
  delegation_chain: "chain",
  chain_hash: "string",
} as const;

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

function recordJson(r: DelegationRecord | DecodedRecord): Record<string, unknown> {
  return {
    agent: r.agent,
    scope: r.scope,
    delegated_at: r.delegated_at,
    signature: nonEmpty(r.signature),
  };
}

/** The claims as a plain object in Go field order, omitempty fields left out. */
export function claimsJson(c: TokenClaims): Record<string, unknown> {
  return {
    iss: c.iss,
    sub: c.sub,
    aud: c.aud !== undefined && c.aud.length > 0 ? c.aud : undefined,
    exp: c.exp,
    nbf: c.nbf,
    iat: c.iat,
    jti: c.jti,
    sid: nonEmpty(c.sid),
    scope: c.scope,
    task_id: nonEmpty(c.task_id),
    orch_id: nonEmpty(c.orch_id),
    delegation_chain:
      c.delegation_chain !== undefined && c.delegation_chain.length > 0 ? c.delegation_chain.map(recordJson) : undefined,
    chain_hash: nonEmpty(c.chain_hash),
  };
}

/** The JWT payload bytes exactly as Go's `json.Marshal(claims)` writes them. */
export function serializeClaims(c: TokenClaims): string {
  return goJsonStringify(claimsJson(c));
}

/** Decodes a JWT payload like `json.Unmarshal` into `TknClaims`; throws on malformed input. */
export function decodeClaims(payload: Uint8Array): TokenClaims {
  const d = decodeStrict(payload, CLAIMS_SCHEMA);
  return {
    iss: d.iss ?? "",
    sub: d.sub ?? "",
    aud: d.aud,
    exp: d.exp ?? 0,
    nbf: d.nbf ?? 0,
    iat: d.iat ?? 0,
    jti: d.jti ?? "",
    sid: d.sid,
    scope: d.scope ?? null,
    task_id: d.task_id,
    orch_id: d.orch_id,
    delegation_chain: d.delegation_chain?.map((r) => ({ ...r, scope: r.scope ?? [] })),
    chain_hash: d.chain_hash,
  };
}
