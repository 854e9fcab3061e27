/** In-memory stores: challenge nonces, launch tokens, registered agents and apps. */
import type { KeyObject } from "node:crypto";

const NONCE_TTL_SECONDS = 30;

interface NonceEntry {
  readonly expiresAt: number;
  consumed: boolean;
}

/** Single-use challenge nonces that live 30 seconds. */
export class NonceStore {
  private readonly nonces = new Map<string, NonceEntry>();

  readonly ttlSeconds = NONCE_TTL_SECONDS;

  add(nonce: string, now: number): void {
    this.prune(now);
    this.nonces.set(nonce, { expiresAt: now + NONCE_TTL_SECONDS, consumed: false });
  }

  /** Consumes a nonce; returns the broker's error text on failure. */
  consume(nonce: string, now: number): string | null {
    const e = this.nonces.get(nonce);
    if (e === undefined) return "nonce not found or expired";
    if (e.consumed) return "nonce already consumed";
    if (now > e.expiresAt) return "nonce not found or expired";
    e.consumed = true;
    return null;
  }

  private prune(now: number): void {
    for (const [k, e] of this.nonces) if (now > e.expiresAt + NONCE_TTL_SECONDS) this.nonces.delete(k);
  }
}

/** A launch token's policy and bookkeeping. */
export interface LaunchToken {
  readonly token: string;
  readonly agentName: string;
  readonly allowedScope: readonly string[];
  /** The agent token's TTL (already defaulted to 300 when ≤ 0; clamped at issuance). */
  readonly maxTtl: number;
  readonly singleUse: boolean;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly createdBy: string;
  readonly appId: string | undefined;
  consumed: boolean;
}

/** Launch tokens, in memory only. */
export class LaunchTokenStore {
  private readonly tokens = new Map<string, LaunchToken>();

  add(lt: LaunchToken): void {
    this.tokens.set(lt.token, lt);
  }

  /** Looks a launch token up; returns the broker's error text on failure. */
  lookup(token: string, now: number): LaunchToken | string {
    const lt = this.tokens.get(token);
    if (lt === undefined) return "launch token not found";
    if (now > lt.expiresAt) return "launch token expired";
    if (lt.singleUse && lt.consumed) return "launch token already consumed";
    return lt;
  }

  /** Marks a single-use token consumed; returns the broker's error text on failure. */
  consume(lt: LaunchToken): string | null {
    if (!lt.singleUse) return null;
    if (lt.consumed) return "launch token already consumed";
    lt.consumed = true;
    return null;
  }
}

/** A registered agent. */
export interface AgentRecord {
  readonly agentId: string;
  readonly orchId: string;
  readonly taskId: string;
  readonly scope: readonly string[];
  readonly publicKey: KeyObject;
  readonly appId: string | undefined;
  readonly registeredAt: string;
}

/** An app as stored (the secret only as a SHA-256 digest). */
export interface AppRecord {
  readonly appId: string;
  readonly name: string;
  readonly clientId: string;
  readonly secretDigest: Buffer;
  scopes: readonly string[];
  tokenTtl: number;
  status: "active" | "inactive";
  readonly createdAt: string;
  updatedAt: string;
}

/** Apps, keyed by id, newest last. */
export class AppStore {
  private readonly apps = new Map<string, AppRecord>();

  add(app: AppRecord): boolean {
    for (const a of this.apps.values()) if (a.name === app.name) return false;
    this.apps.set(app.appId, app);
    return true;
  }

  get(appId: string): AppRecord | undefined {
    return this.apps.get(appId);
  }

  byClientId(clientId: string): AppRecord | undefined {
    for (const a of this.apps.values()) if (a.clientId === clientId) return a;
    return undefined;
  }

  /** Newest first. */
  list(): AppRecord[] {
    return [...this.apps.values()].reverse();
  }
}
