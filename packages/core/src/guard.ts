/**
 * `createGuard`: the one place where an AgentWrit token becomes an `AgentIdentity` or a
 * `GuardError`. Adapters only extract the header, call the guard, and send what it says.
 */
import { LRUCache } from "lru-cache";
import { extractBearer } from "./bearer.js";
import { BrokerClient } from "./broker.js";
import { checkClaimTypes, checkPolicy, checkTimes, type AgentWritClaims, type ClaimPolicy } from "./claims.js";
import { checkDelegationIntegrity, checkDelegationShape, type DelegationPolicy } from "./delegation.js";
import { GuardError, isGuardError, type GuardErrorCode } from "./errors.js";
import { toIdentity, type AgentIdentity, type DecisionSource } from "./identity.js";
import { parseCompactJws } from "./jws.js";
import { Keyring } from "./keyring.js";
import { resolveOptions, type DecisionEvent, type GuardMode, type GuardOptions, type ResolvedOptions } from "./options.js";
import { Refusal, refuse } from "./refusal.js";
import {
  compileRequirement,
  evaluateRequirement,
  type CompiledRequirement,
  type Requirement,
  type RequirementParams,
} from "./requirement.js";

/** A configured guard. Share one instance between routes and adapters: one cache, one broker client. */
export interface Guard {
  readonly mode: GuardMode;
  readonly realm: string | undefined;
  readonly resourceMetadataUrl: string | undefined;
  /** The accepted audiences, or `undefined` when `aud` is not checked. */
  readonly audience: readonly string[] | undefined;
  /**
   * Verifies the raw `Authorization` header value and returns the agent.
   * @throws GuardError 401 (bad or missing token), 503 (broker or JWKS unavailable)
   */
  authenticate(authorization: string | null | undefined): Promise<AgentIdentity>;
  /**
   * Checks that the identity's scope satisfies the requirement, with `{placeholders}` bound from `params`.
   * @throws GuardError 403 `insufficient_scope` naming every missing scope; 400 `invalid_parameter`
   */
  authorize(identity: AgentIdentity, requirement: Requirement | CompiledRequirement, params?: RequirementParams): void;
  /** `authenticate` then, when a requirement is given, `authorize`, reported as one decision. */
  verify(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
  ): Promise<AgentIdentity>;
  /** A `GuardError` carrying this guard's realm and resource metadata (for adapter-level refusals). */
  error(code: GuardErrorCode, init?: { scope?: readonly string[]; cause?: unknown }): GuardError;
  /** Drops every cached verdict. */
  clearCache(): void;
  /** Counters for diagnostics and benchmarks. */
  stats(): { readonly brokerCalls: number; readonly cacheSize: number };
}

interface CacheEntry {
  readonly generation: number;
  /** When this entry stops being usable (ms since epoch). */
  readonly untilMs: number;
  readonly refusal?: Refusal;
  readonly identity?: AgentIdentity;
  readonly cachedIdentity?: AgentIdentity;
  /** When the broker last said `valid:true`. */
  brokerAtMs?: number;
}

const NEGATIVE_TTL_MS = 5 * 60_000;
/** Refusals that depend only on the token text (and the key set), so they can be remembered. */
const DETERMINISTIC: ReadonlySet<GuardErrorCode> = new Set<GuardErrorCode>([
  "malformed_token", "unsupported_alg", "unsupported_crit", "invalid_signature", "malformed_claims",
  "token_expired", "issuer_mismatch", "audience_mismatch", "subject_not_agent", "trust_domain_mismatch",
  "delegation_too_deep", "delegation_widened", "delegation_signature_invalid", "chain_hash_mismatch",
  "delegator_not_allowed",
]);

const nowMs = (): number => Date.now();

class GuardImpl implements Guard {
  readonly #o: ResolvedOptions;
  readonly #keyring: Keyring;
  readonly #broker: BrokerClient | undefined;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #claimPolicy: ClaimPolicy;
  readonly #delegationPolicy: DelegationPolicy;
  readonly #compiled = new Map<string, CompiledRequirement>();
  readonly #compiledObjects = new WeakMap<object, CompiledRequirement>();
  readonly mode: GuardMode;
  readonly realm: string | undefined;
  readonly resourceMetadataUrl: string | undefined;
  readonly audience: readonly string[] | undefined;

  constructor(options: GuardOptions) {
    const o = resolveOptions(options);
    this.#o = o;
    this.mode = o.mode;
    this.realm = o.realm;
    this.resourceMetadataUrl = o.resourceMetadataUrl;
    this.audience = o.audience;
    this.#keyring = new Keyring({ keyXs: o.keyXs, jwksUri: o.jwksUri, timeoutMs: o.brokerTimeoutMs, fetch: o.fetch });
    this.#broker =
      o.brokerUrl === undefined || o.mode === "local"
        ? undefined
        : new BrokerClient({
            brokerUrl: o.brokerUrl,
            timeoutMs: o.brokerTimeoutMs,
            fetch: o.fetch,
            maxResponseBytes: Math.max(65536, o.maxTokenBytes * 4),
          });
    this.#cache = new LRUCache<string, CacheEntry>({ max: o.cacheMax });
    this.#claimPolicy = {
      clockToleranceSec: o.clockToleranceSec,
      issuer: o.issuer,
      audience: o.audience,
      trustDomain: o.trustDomain,
      allowNonAgentSubjects: o.allowNonAgentSubjects,
    };
    this.#delegationPolicy = { maxDepth: o.maxDelegationDepth, allowedDelegators: o.allowedDelegators };
  }

  error(code: GuardErrorCode, init: { scope?: readonly string[]; cause?: unknown } = {}): GuardError {
    return new GuardError(code, { ...init, realm: this.realm, resourceMetadataUrl: this.resourceMetadataUrl });
  }

  clearCache(): void {
    this.#cache.clear();
  }

  stats(): { brokerCalls: number; cacheSize: number } {
    return { brokerCalls: this.#broker?.calls ?? 0, cacheSize: this.#cache.size };
  }

  async authenticate(authorization: string | null | undefined): Promise<AgentIdentity> {
    return this.verify(authorization);
  }

  async verify(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
  ): Promise<AgentIdentity> {
    const started = performance.now();
    let identity: AgentIdentity | undefined;
    let required: readonly string[] | undefined;
    let missing: readonly string[] | undefined;
    try {
      identity = await this.#authenticate(authorization);
      if (requirement !== undefined) {
        const result = evaluateRequirement(this.#compile(requirement), identity.scope, params);
        required = result.required;
        if (!result.satisfied) {
          missing = result.missing;
          refuse("insufficient_scope", undefined, result.missing);
        }
      }
      this.#emit("allow", "authenticate", undefined, identity, required, missing, started);
      return identity;
    } catch (e) {
      const err = this.#toGuardError(e);
      this.#emit("deny", "authenticate", err, identity, required, missing, started);
      throw err;
    }
  }

  authorize(identity: AgentIdentity, requirement: Requirement | CompiledRequirement, params?: RequirementParams): void {
    const started = performance.now();
    let result: ReturnType<typeof evaluateRequirement> | undefined;
    try {
      result = evaluateRequirement(this.#compile(requirement), identity.scope, params);
      if (!result.satisfied) refuse("insufficient_scope", undefined, result.missing);
    } catch (e) {
      const err = this.#toGuardError(e);
      this.#emit("deny", "authorize", err, identity, result?.required, result?.missing, started);
      throw err;
    }
    this.#emit("allow", "authorize", undefined, identity, result.required, undefined, started);
  }

  #compile(req: Requirement | CompiledRequirement): CompiledRequirement {
    if (typeof req === "string") {
      let c = this.#compiled.get(req);
      if (c === undefined) {
        c = compileRequirement(req);
        if (this.#compiled.size >= 1024) this.#compiled.clear();
        this.#compiled.set(req, c);
      }
      return c;
    }
    let c = this.#compiledObjects.get(req);
    if (c === undefined) {
      c = compileRequirement(req);
      this.#compiledObjects.set(req, c);
    }
    return c;
  }

  #toGuardError(e: unknown): GuardError {
    if (e instanceof Refusal) return this.error(e.code, e.scope === undefined ? { cause: e.cause } : { cause: e.cause, scope: e.scope });
    if (isGuardError(e)) return e;
    // A TypeError from a malformed requirement is a programming error: let it surface as such.
    if (e instanceof TypeError && e.message.startsWith("scope requirement")) throw e;
    return this.error("internal_error", { cause: e });
  }

  #emit(
    outcome: "allow" | "deny",
    phase: "authenticate" | "authorize",
    err: GuardError | undefined,
    identity: AgentIdentity | undefined,
    required: readonly string[] | undefined,
    missing: readonly string[] | undefined,
    started: number,
  ): void {
    const cb = this.#o.onDecision;
    if (cb === undefined) return;
    const event: DecisionEvent = {
      outcome,
      phase,
      code: err?.code,
      status: err?.status,
      agentId: identity?.agentId,
      jti: identity?.jti,
      source: identity?.source,
      required,
      missing,
      delegationDepth: identity?.delegationDepth,
      durationMs: performance.now() - started,
    };
    try {
      const r = cb(event);
      if (r instanceof Promise) r.catch(() => undefined);
    } catch {
      // A faulty listener must never change a decision.
    }
  }

  // ---- authentication pipeline -------------------------------------------------------------

  async #authenticate(authorization: string | null | undefined): Promise<AgentIdentity> {
    const token = extractBearer(authorization, this.#o.maxTokenBytes);
    this.#keyring.observe();
    const now = nowMs();
    let entry = this.#cache.get(token);
    if (entry !== undefined && (entry.generation !== this.#keyring.generation || now >= entry.untilMs)) {
      this.#cache.delete(token);
      entry = undefined;
    }
    if (entry?.refusal !== undefined) throw entry.refusal;
    if (entry !== undefined) this.#keyring.refreshIfStale();

    switch (this.#o.mode) {
      case "local":
        return entry?.cachedIdentity ?? (await this.#remember(token, () => this.#verifyLocal(token, now)));
      case "broker":
        if (entry?.cachedIdentity !== undefined && this.#brokerFresh(entry, now)) return entry.cachedIdentity;
        return this.#remember(token, () => this.#verifyWithBroker(token, now));
      case "hybrid": {
        if (entry?.cachedIdentity !== undefined && this.#brokerFresh(entry, now)) return entry.cachedIdentity;
        const local = entry?.identity ?? (await this.#remember(token, () => this.#verifyLocal(token, now)));
        await this.#remember(token, () => this.#askBroker(token, local.claims), local.claims.exp);
        const current = this.#cache.get(token);
        if (current !== undefined && this.#o.maxStalenessSec > 0) current.brokerAtMs = nowMs();
        return this.#withSource(local, "broker");
      }
    }
  }

  #brokerFresh(entry: CacheEntry, now: number): boolean {
    return entry.brokerAtMs !== undefined && now - entry.brokerAtMs < this.#o.maxStalenessSec * 1000;
  }

  #withSource(identity: AgentIdentity, source: DecisionSource): AgentIdentity {
    return identity.source === source ? identity : Object.freeze({ ...identity, source });
  }

  /** Runs a step; remembers a deterministic refusal (or a broker `valid:false`) for this token. */
  async #remember<T>(token: string, step: () => Promise<T>, exp?: number): Promise<T> {
    try {
      return await step();
    } catch (e) {
      if (e instanceof Refusal) {
        const now = nowMs();
        let untilMs: number | undefined;
        if (DETERMINISTIC.has(e.code)) untilMs = now + NEGATIVE_TTL_MS;
        else if (e.code === "unknown_kid" && this.#o.jwksUri === undefined) untilMs = now + NEGATIVE_TTL_MS;
        else if (e.code === "token_inactive" && exp !== undefined) {
          // A broker `valid:false` is permanent for this token string (revocations are never lifted).
          untilMs = (exp + this.#o.clockToleranceSec + 1) * 1000;
        }
        if (untilMs !== undefined && untilMs > now) {
          this.#cache.set(token, { generation: this.#keyring.generation, untilMs, refusal: e });
        }
      }
      throw e;
    }
  }

  #cachePositive(token: string, claims: AgentWritClaims, identity: AgentIdentity, brokerAtMs: number | undefined): void {
    const untilMs = (claims.exp + this.#o.clockToleranceSec + 1) * 1000;
    const entry: CacheEntry = {
      generation: this.#keyring.generation,
      untilMs,
      identity,
      cachedIdentity: this.#withSource(identity, "cache"),
    };
    if (brokerAtMs !== undefined) entry.brokerAtMs = brokerAtMs;
    this.#cache.set(token, entry);
  }

  /** Claim rules shared by every mode, applied to verified (or broker-confirmed) claims. */
  #checkClaims(claims: AgentWritClaims, now: number): void {
    checkTimes(claims, Math.floor(now / 1000), this.#o.clockToleranceSec);
    checkPolicy(claims, this.#claimPolicy);
    checkDelegationShape(claims, this.#delegationPolicy);
  }

  async #verifyLocal(token: string, now: number): Promise<AgentIdentity> {
    const parsed = parseCompactJws(token);
    const key = await this.#keyring.verify(token, parsed);
    const claims = checkClaimTypes(parsed.payload);
    this.#checkClaims(claims, now);
    if (claims.delegation_chain !== undefined) await checkDelegationIntegrity(claims, key);
    const identity = toIdentity(claims, "local");
    this.#cachePositive(token, claims, identity, undefined);
    return identity;
  }

  async #verifyWithBroker(token: string, now: number): Promise<AgentIdentity> {
    const parsed = parseCompactJws(token);
    // The token's own (unverified) claims: anything these fail, the broker's would fail too.
    const presented = checkClaimTypes(parsed.payload);
    this.#checkClaims(presented, now);
    const claims = await this.#remember(token, () => this.#askBroker(token, presented), presented.exp);
    this.#checkClaims(claims, nowMs());
    if (claims.delegation_chain !== undefined) {
      const key = await this.#keyring.integrityKey(parsed.kid);
      if (key !== undefined) await checkDelegationIntegrity(claims, key);
    }
    const identity = toIdentity(claims, "broker");
    if (this.#o.maxStalenessSec > 0) this.#cachePositive(token, claims, identity, nowMs());
    return identity;
  }

  /** Asks the broker and checks that its claims are about this very token. */
  async #askBroker(token: string, presented: AgentWritClaims): Promise<AgentWritClaims> {
    const broker = this.#broker;
    if (broker === undefined) refuse("internal_error");
    const verdict = await broker.validate(token);
    if (!verdict.valid) refuse(verdict.rejected ? "broker_rejected" : "token_inactive");
    let claims: AgentWritClaims;
    try {
      claims = checkClaimTypes(verdict.claims);
    } catch (e) {
      refuse("broker_unavailable", e instanceof Refusal ? new Error("broker returned malformed claims") : e);
    }
    if (claims.jti !== presented.jti || claims.sub !== presented.sub) refuse("broker_claims_mismatch");
    return claims;
  }
}

/**
 * Creates a guard. Options are validated now: a `TypeError` names any misconfiguration.
 *
 * @example
 * const guard = createGuard({ brokerUrl: "http://127.0.0.1:8080", publicKey: process.env.AGENTWRIT_PUBLIC_KEY });
 * const agent = await guard.authenticate(request.headers.get("authorization"));
 * guard.authorize(agent, "write:data:order-{id}", { id: "42" });
 */
export function createGuard(options: GuardOptions): Guard {
  return new GuardImpl(options);
}
