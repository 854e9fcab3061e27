/** The four revocation levels and the broker's matching rules (never pruned). */
import type { TokenClaims } from "./claims.js";

/** A revocation level accepted by `POST /v1/revoke`. */
export type RevocationLevel = "token" | "agent" | "task" | "chain";

export const REVOCATION_LEVELS: readonly RevocationLevel[] = ["token", "agent", "task", "chain"];

export function isRevocationLevel(s: string): s is RevocationLevel {
  return (REVOCATION_LEVELS as readonly string[]).includes(s);
}

/** In-memory revocation sets, one per level. */
export class RevocationStore {
  private readonly sets: Record<RevocationLevel, Set<string>> = {
    token: new Set(),
    agent: new Set(),
    task: new Set(),
    chain: new Set(),
  };

  revoke(level: RevocationLevel, target: string): void {
    this.sets[level].add(target);
  }

  /** The broker's `IsRevoked`: jti, sub, non-empty task_id, or the chain's root delegator. */
  isRevoked(c: TokenClaims): boolean {
    if (this.sets.token.has(c.jti)) return true;
    if (this.sets.agent.has(c.sub)) return true;
    if (c.task_id !== undefined && c.task_id !== "" && this.sets.task.has(c.task_id)) return true;
    const root = c.delegation_chain?.[0];
    return root !== undefined && this.sets.chain.has(root.agent);
  }

  /** Number of entries across all levels. */
  get size(): number {
    return REVOCATION_LEVELS.reduce((n, l) => n + this.sets[l].size, 0);
  }
}
