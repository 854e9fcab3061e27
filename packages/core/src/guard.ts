/**
 * `createGuard`: the one place where an AgentWrit token becomes an `AgentIdentity` or a
 * `GuardError`. Adapters only extract the header, call the guard, and send what it says.
 */
import { Authenticator } from "./authenticator.js";
import { GuardError, isGuardError, type GuardErrorCode } from "./errors.js";
import type { AgentIdentity } from "./identity.js";
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

class GuardImpl implements Guard {
  readonly #o: ResolvedOptions;
  readonly #auth: Authenticator;
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
    this.#auth = new Authenticator(o);
  }

  error(code: GuardErrorCode, init: { scope?: readonly string[]; cause?: unknown } = {}): GuardError {
    return new GuardError(code, { ...init, realm: this.realm, resourceMetadataUrl: this.resourceMetadataUrl });
  }

  clearCache(): void {
    this.#auth.clear();
  }

  stats(): { brokerCalls: number; cacheSize: number; refusalCacheSize: number } {
    return this.#auth.stats();
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
    const hot = this.#auth.hot(authorization);
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
      identity = await this.#auth.authenticate(authorization);
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
