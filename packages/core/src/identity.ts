import type { AgentWritClaims } from "./claims.js";
import { trustDomainOf } from "./claims.js";
import type { DelegationRecord } from "./delegation-record.js";

/** Where a decision came from: local signature check, the broker, or the verified-token cache. */
export type DecisionSource = "local" | "broker" | "cache";

/** A verified AgentWrit agent. */
export interface AgentIdentity {
  /** The subject: the agent's SPIFFE ID (`spiffe://<trust-domain>/agent/<orch>/<task>/<instance>`). */
  readonly agentId: string;
  readonly scope: readonly string[];
  readonly taskId: string | undefined;
  readonly orchId: string | undefined;
  readonly jti: string;
  /** `iss` (the broker writes `""` unless `AA_ISSUER` is set). */
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly issuedAt: Date | undefined;
  readonly expiresAt: Date;
  /** The agent's SPIFFE trust domain, `undefined` for non-agent subjects. */
  readonly trustDomain: string | undefined;
  readonly delegationChain: readonly DelegationRecord[];
  readonly delegationDepth: number;
  readonly chainHash: string | undefined;
  /** The verified claims, as the token carried them. */
  readonly claims: AgentWritClaims;
  readonly source: DecisionSource;
}

export function toIdentity(claims: AgentWritClaims, source: DecisionSource): AgentIdentity {
  const chain = claims.delegation_chain ?? [];
  return Object.freeze({
    agentId: claims.sub,
    scope: claims.scope,
    taskId: claims.task_id,
    orchId: claims.orch_id,
    jti: claims.jti,
    issuer: claims.iss,
    audience: claims.aud ?? [],
    issuedAt: claims.iat === undefined ? undefined : new Date(claims.iat * 1000),
    expiresAt: new Date(claims.exp * 1000),
    trustDomain: trustDomainOf(claims.sub),
    delegationChain: chain,
    delegationDepth: chain.length,
    chainHash: claims.chain_hash,
    claims,
    source,
  });
}
