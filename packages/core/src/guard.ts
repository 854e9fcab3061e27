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
  /**
   * Counters for diagnostics and benchmarks: broker calls made, verified tokens cached (at most
   * `cache.max`) and refusals remembered (at most `max(64, cache.max / 4)`, kept apart).
   */
  stats(): { readonly brokerCalls: number; readonly cacheSize: number; readonly refusalCacheSize: number };
}

/** A verified token: its identity, until when it may be reused, and when the broker last agreed. */
interface Verified {
  readonly generation: number;
  /** When this entry stops being usable (ms since epoch): just past `exp` plus tolerance. */
  readonly untilMs: number;
  readonly identity: AgentIdentity;
  /** The same identity with `source: "cache"`, built once. */
  readonly cachedIdentity: AgentIdentity;
  /** When the broker last said `valid:true`. */
  brokerAtMs: number | undefined;
}

/** A remembered refusal, for a token whose refusal cost signature or broker work. */
interface Denied {
  readonly generation: number;
  readonly untilMs: number;
  readonly refusal: Refusal;
}

const NEGATIVE_TTL_MS = 5 * 60_000;
/**
 * Refusals worth remembering: they depend only on the token text (and the key set) and cost
 * signature work to reach. Cheap structural refusals are not cached: recomputing them costs less
 * than a cache slot, and a flood of garbage must not fill the cache.
 */
const REMEMBERED: ReadonlySet<GuardErrorCode> = new Set<GuardErrorCode>([
  "invalid_signature", "malformed_claims", "token_expired", "issuer_mismatch", "audience_mismatch",
  "subject_not_agent", "trust_domain_mismatch", "delegation_too_deep", "delegation_widened",
  "delegation_signature_invalid", "chain_hash_mismatch", "delegator_not_allowed",
]);

const nowMs = (): number => Date.now();
const BEARER_PREFIX = "Bearer ";

class GuardImpl implements Guard {
  readonly #o: ResolvedOptions;
  readonly #keyring: Keyring;
  readonly #broker: BrokerClient | undefined;
  readonly #verified: LRUCache<string, Verified>;
  readonly #denied: LRUCache<string, Denied>;
  readonly #localInFlight = new Map<string, Promise<AgentIdentity>>();
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
    this.#verified = new LRUCache<string, Verified>({ max: o.cacheMax });
    // Refusals live apart, so that no number of bad tokens can evict a verified one.
    this.#denied = new LRUCache<string, Denied>({ max: Math.max(64, Math.ceil(o.cacheMax / 4)) });
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
    this.#verified.clear();
    this.#denied.clear();
  }

  stats(): { brokerCalls: number; cacheSize: number; refusalCacheSize: number } {
    return { brokerCalls: this.#broker?.calls ?? 0, cacheSize: this.#verified.size, refusalCacheSize: this.#denied.size };
  }

  authenticate(authorization: string | null | undefined): Promise<AgentIdentity> {
    return this.verify(authorization);
  }

  verify(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
  ): Promise<AgentIdentity> {
    const started = this.#o.onDecision === undefined ? 0 : performance.now();
    // Hot path: a token verified before, sent as exactly "Bearer <token>", answered synchronously
    // from the cache: no parsing, no signature work, no network.
    const hot = this.#hot(authorization);
    if (hot !== undefined) {
      try {
        return Promise.resolve(this.#finish(hot, requirement, params, started));
      } catch (e) {
        return Promise.reject(this.#deny(e, hot, started));
      }
    }
    return this.#cold(authorization, requirement, params, started);
  }

  async #cold(
    authorization: string | null | undefined,
    requirement: Requirement | CompiledRequirement | undefined,
    params: RequirementParams | undefined,
    started: number,
  ): Promise<AgentIdentity> {
    let identity: AgentIdentity | undefined;
    try {
      identity = await this.#authenticate(authorization);
      return this.#finish(identity, requirement, params, started);
    } catch (e) {
      throw this.#deny(e, identity, started);
    }
  }

  /** Applies the requirement (if any) and reports the allow decision. */
  #finish(
    identity: AgentIdentity,
    requirement: Requirement | CompiledRequirement | undefined,
    params: RequirementParams | undefined,
    started: number,
  ): AgentIdentity {
    let required: readonly string[] | undefined;
    if (requirement !== undefined) {
      const result = evaluateRequirement(this.#compile(requirement), identity.scope, params);
      required = result.required;
      if (!result.satisfied) refuse("insufficient_scope", { required, missing: result.missing }, result.missing);
    }
    if (this.#o.onDecision !== undefined) this.#emit("allow", "authenticate", undefined, identity, required, undefined, started);
    return identity;
  }

  #deny(e: unknown, identity: AgentIdentity | undefined, started: number): GuardError {
    const err = this.#toGuardError(e);
    if (this.#o.onDecision !== undefined) {
      const detail = e instanceof Refusal && e.code === "insufficient_scope" ? (e.cause as { required: readonly string[]; missing: readonly string[] }) : undefined;
      this.#emit("deny", "authenticate", err, identity, detail?.required, detail?.missing, started);
    }
    return err;
  }

  authorize(identity: AgentIdentity, requirement: Requirement | CompiledRequirement, params?: RequirementParams): void {
    const started = this.#o.onDecision === undefined ? 0 : performance.now();
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
    if (e instanceof Refusal) {
      const cause = e.code === "insufficient_scope" ? undefined : e.cause;
      return this.error(e.code, e.scope === undefined ? { cause } : { cause, scope: e.scope });
    }
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

  /** A usable verified entry for this token, or `undefined` (stale entries are dropped). */
  #lookup(token: string, now: number): Verified | undefined {
    const entry = this.#verified.get(token);
    if (entry === undefined) return undefined;
    if (entry.generation !== this.#keyring.generation || now >= entry.untilMs) {
      this.#verified.delete(token);
      return undefined;
    }
    return entry;
  }

  #fresh(entry: Verified, now: number): boolean {
    return this.#o.mode === "local" || (entry.brokerAtMs !== undefined && now - entry.brokerAtMs < this.#o.maxStalenessSec * 1000);
  }

  #hot(authorization: string | null | undefined): AgentIdentity | undefined {
    if (
      typeof authorization !== "string" ||
      authorization.length > this.#o.maxTokenBytes + BEARER_PREFIX.length ||
      !authorization.startsWith(BEARER_PREFIX)
    ) {
      return undefined;
    }
    this.#keyring.observe();
    const now = nowMs();
    // Only a token that was extracted and verified before can be found here, so the header is
    // exactly "Bearer <that token>": nothing else needs checking.
    const entry = this.#lookup(authorization.slice(BEARER_PREFIX.length), now);
    if (entry === undefined || !this.#fresh(entry, now)) return undefined;
    this.#keyring.refreshIfStale();
    return entry.cachedIdentity;
  }

  async #authenticate(authorization: string | null | undefined): Promise<AgentIdentity> {
    const token = extractBearer(authorization, this.#o.maxTokenBytes);
    this.#keyring.observe();
    const now = nowMs();
    const denied = this.#denied.get(token);
    if (denied !== undefined) {
      if (denied.generation === this.#keyring.generation && now < denied.untilMs) throw denied.refusal;
      this.#denied.delete(token);
    }
    const entry = this.#lookup(token, now);
    if (entry !== undefined) {
      this.#keyring.refreshIfStale();
      if (this.#fresh(entry, now)) return entry.cachedIdentity;
    }
    switch (this.#o.mode) {
      case "local":
        return this.#local(token);
      case "broker":
        return this.#remember(token, () => this.#verifyWithBroker(token, now));
      case "hybrid": {
        const local = entry?.identity ?? (await this.#local(token));
        await this.#remember(token, () => this.#askBroker(token, local.claims), local.claims.exp);
        if (this.#o.maxStalenessSec > 0) {
          const current = this.#verified.get(token);
          if (current !== undefined) current.brokerAtMs = nowMs();
        }
        return this.#withSource(local, "broker");
      }
    }
  }

  #withSource(identity: AgentIdentity, source: DecisionSource): AgentIdentity {
    return identity.source === source ? identity : Object.freeze({ ...identity, source });
  }

  /** Local verification, single-flight per token: concurrent requests share one signature check. */
  #local(token: string): Promise<AgentIdentity> {
    let p = this.#localInFlight.get(token);
    if (p === undefined) {
      p = this.#remember(token, () => this.#verifyLocal(token, nowMs())).finally(() => this.#localInFlight.delete(token));
      this.#localInFlight.set(token, p);
    }
    return p;
  }

  /** Runs a step; remembers a refusal that cost real work (or a broker `valid:false`) for this token. */
  async #remember<T>(token: string, step: () => Promise<T>, exp?: number): Promise<T> {
    try {
      return await step();
    } catch (e) {
      if (e instanceof Refusal) {
        const now = nowMs();
        let untilMs: number | undefined;
        if (REMEMBERED.has(e.code)) untilMs = now + NEGATIVE_TTL_MS;
        else if (e.code === "token_inactive" && exp !== undefined) {
          // A broker `valid:false` is permanent for this token string (revocations are never lifted).
          untilMs = (exp + this.#o.clockToleranceSec + 1) * 1000;
        }
        if (untilMs !== undefined && untilMs > now) {
          this.#verified.delete(token);
          this.#denied.set(token, { generation: this.#keyring.generation, untilMs, refusal: e });
        }
      }
      throw e;
    }
  }

  #cachePositive(token: string, claims: AgentWritClaims, identity: AgentIdentity, brokerAtMs: number | undefined): void {
    this.#verified.set(token, {
      generation: this.#keyring.generation,
      untilMs: (claims.exp + this.#o.clockToleranceSec + 1) * 1000,
      identity,
      cachedIdentity: this.#withSource(identity, "cache"),
      brokerAtMs,
    });
  }

  /** Claim rules shared by every mode, applied to verified (or broker-confirmed) claims. */
  #checkClaims(claims: AgentWritClaims, now: number): void {
    checkTimes(claims, Math.floor(now / 1000), this.#o.clockToleranceSec);
    checkPolicy(claims, this.#claimPolicy);
    checkDelegationShape(claims, this.#delegationPolicy);
  }

  async #verifyLocal(token: string, now: number): Promise<AgentIdentity> {
    const parsed = parseCompactJws(token, false);
    const { key, payload } = await this.#keyring.verify(token, parsed);
    const claims = checkClaimTypes(payload);
    this.#checkClaims(claims, now);
    if (claims.delegation_chain !== undefined) await checkDelegationIntegrity(claims, key);
    const identity = toIdentity(claims, "local");
    this.#cachePositive(token, claims, identity, undefined);
    return identity;
  }

  async #verifyWithBroker(token: string, now: number): Promise<AgentIdentity> {
    const parsed = parseCompactJws(token, true);
    // The token's own (unverified) claims: anything these fail, the broker's would fail too.
    const presented = checkClaimTypes(parsed.payload ?? {});
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
