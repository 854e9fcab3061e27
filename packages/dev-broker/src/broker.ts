/** The broker's services, wired together; one instance per running dev broker. */
import { createHash, timingSafeEqual } from "node:crypto";
import { AuditLog, type AuditInput } from "./audit.js";
import { Env, systemNow } from "./clock.js";
import { loadSigningKeys, type SigningKeys } from "./keys.js";
import { Metrics } from "./metrics.js";
import type { ResolvedOptions } from "./options.js";
import { RateLimiter } from "./rate-limit.js";
import { RevocationStore, type RevocationLevel } from "./revocation.js";
import { AppStore, LaunchTokenStore, NonceStore, type AgentRecord } from "./state.js";
import { TokenService, type IssuedToken, type IssueRequest } from "./tokens.js";

/** The broker's version string, reported by `/v1/health`. */
export const BROKER_VERSION = "2.0.0";

export const ADMIN_SCOPES: readonly string[] = ["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"];
export const APP_SCOPES: readonly string[] = ["app:launch-tokens:*", "app:agents:*", "app:audit:read"];

/** Live counters for tests. */
export interface DevBrokerStats {
  /** Requests that reached `POST /v1/token/validate`'s handler. */
  validateCalls: number;
  /** Every HTTP request received. */
  requests: number;
}

/** SHA-256 digest of a secret, the only form in which secrets are kept. */
export function secretDigest(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** Constant-time comparison of a presented secret with a stored digest. */
export function secretMatches(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), digest);
}

export class BrokerCore {
  readonly env: Env;
  readonly revocations = new RevocationStore();
  readonly tokens: TokenService;
  readonly nonces = new NonceStore();
  readonly launchTokens = new LaunchTokenStore();
  readonly agents = new Map<string, AgentRecord>();
  readonly apps = new AppStore();
  readonly audit: AuditLog;
  readonly metrics = new Metrics();
  /** `POST /v1/admin/auth`: 5/s, burst 10, per IP. */
  readonly adminAuthLimiter: RateLimiter;
  /** `POST /v1/app/auth`: 10/min, burst 3, per client_id. */
  readonly appAuthLimiter: RateLimiter;
  readonly adminSecretDigest: Buffer;
  readonly startedAt = performance.now();
  readonly stats: DevBrokerStats = { validateCalls: 0, requests: 0 };

  private constructor(
    readonly options: ResolvedOptions,
    readonly keys: SigningKeys,
  ) {
    this.env = new Env(options.now ?? systemNow(), options.randomHex);
    this.audit = new AuditLog(this.env);
    this.tokens = new TokenService(keys, options, this.env, this.revocations);
    this.adminSecretDigest = secretDigest(options.adminSecret);
    const clockMs = (): number => Number(this.env.nowNs() / 1000n) / 1000;
    this.adminAuthLimiter = new RateLimiter(5, 10, 1, clockMs);
    this.appAuthLimiter = new RateLimiter(10 / 60, 3, 60, clockMs);
  }

  static async create(options: ResolvedOptions): Promise<BrokerCore> {
    return new BrokerCore(options, await loadSigningKeys(options.signingKey));
  }

  /** Issues a token and counts it (`agentwrit_tokens_issued_total{scope=<first scope>}`). */
  issue(req: IssueRequest): IssuedToken {
    const t = this.tokens.issue(req);
    this.metrics.inc("agentwrit_tokens_issued_total", req.scope[0] ?? "");
    return t;
  }

  /** Revokes and counts (`agentwrit_tokens_revoked_total{level}`). */
  revoke(level: RevocationLevel, target: string, metricLevel: string = level): void {
    this.revocations.revoke(level, target);
    this.metrics.inc("agentwrit_tokens_revoked_total", metricLevel);
  }

  /** Appends an audit event and updates the audit metrics. */
  record(input: AuditInput): void {
    const t0 = performance.now();
    this.audit.record(input);
    this.metrics.inc("agentwrit_audit_events_total", input.event_type);
    this.metrics.observe("agentwrit_audit_write_duration_seconds", (performance.now() - t0) / 1000);
  }

  /** Whole seconds since start. */
  uptimeSeconds(): number {
    return Math.floor((performance.now() - this.startedAt) / 1000);
  }
}
