/**
 * `createGuard`: the one place where an AgentWrit token becomes an `AgentIdentity` or a
 * `GuardError`. Adapters only extract the header, call the guard, and send what it says.
 */
import { Authenticator } from "./authenticator.js";
import { readCappedText } from "./body.js";
import { describeFetchFailure } from "./broker.js";
import { GuardError, isGuardError, type GuardErrorCode } from "./errors.js";
import type { AgentIdentity } from "./identity.js";
import { ed25519KidSync } from "./keys.js";
import { levelEnabled, LogLimiter, logGuardConfiguration, writeLog, type GuardLogger, type LogLevel } from "./log.js";
import { resolveOptions, type DecisionEvent, type GuardMode, type GuardOptions, type ResolvedOptions } from "./options.js";
import { Refusal, refuse } from "./refusal.js";
import {
  compileRequirement,
  evaluateRequirement,
  type CompiledRequirement,
  type ParamSource,
  type Requirement,
  type RequirementParams,
  type RequirementResult,
} from "./requirement.js";
import { Telemetry, WATCH_METRICS, WATCH_TIMED, WATCH_TRACES } from "./telemetry.js";

/** How an adapter calls the guard for one request or route. Create it once per route, not per request. */
export interface VerifyContext {
  /**
   * `"route"` when params are a framework's route parameters (a placeholder missing from them is
   * a wiring mistake: 500 `requirement_param_missing`); `"input"` (default) when they come from
   * the client, such as tool arguments (400 `invalid_parameter`).
   */
  readonly paramSource?: ParamSource | undefined;
  /** Names the route or tool in reasons, logs and events (`GET /customers/:id`). */
  readonly route?: string | undefined;
  /** A logger for this request (Fastify's `request.log`), instead of the guard's own. */
  readonly logger?: GuardLogger | undefined;
}

/** The configuration in force, for startup logs and diagnostics (no secrets: keys are public). */
export interface GuardDescription {
  readonly mode: GuardMode;
  readonly brokerUrl: string | undefined;
  /** RFC 7638 thumbprints of the configured public keys: the `kid` the broker writes. */
  readonly kids: readonly string[];
  readonly jwksUri: string | undefined;
  /** `undefined`: not checked. */
  readonly issuer: string | undefined;
  /** `undefined`: not checked. */
  readonly audience: readonly string[] | undefined;
  readonly maxStalenessSec: number;
  /** `undefined`: any trust domain. */
  readonly trustDomain: string | undefined;
  readonly allowNonAgentSubjects: boolean;
  readonly clockToleranceSec: number;
  readonly maxDelegationDepth: number;
  readonly maxTokenBytes: number;
  readonly cacheMax: number;
  /** Longest value bound into a requirement's placeholder. */
  readonly maxParamLength: number;
  /** Most missing scopes a 403 challenge names. */
  readonly maxChallengeScopes: number;
}

/** What `probe()` found: the broker's health endpoint answered, how fast, and its version. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly version?: string;
  /** Why it is not ok, for operators. */
  readonly reason?: string;
}

/** A configured guard. Share one instance between routes and adapters: one cache, one broker client. */
export interface Guard {
  readonly mode: GuardMode;
  readonly realm: string | undefined;
  readonly resourceMetadataUrl: string | undefined;
  /** The accepted audiences, or `undefined` when `aud` is not checked. */
  readonly audience: readonly string[] | undefined;
  /** The logger given in the options, if any. */
  readonly logger: GuardLogger | undefined;
  /**
   * Verifies the raw `Authorization` header value and returns the agent.
   * @throws GuardError 401 (bad or missing token), 503 (broker or JWKS unavailable)
   */
  authenticate(authorization: string | null | undefined, context?: VerifyContext): Promise<AgentIdentity>;
  /**
   * Checks that the identity's scope satisfies the requirement, with `{placeholders}` bound from `params`.
   * @throws GuardError 403 `insufficient_scope` naming the missing scopes; 400 `invalid_parameter`;
   *   500 `requirement_param_missing` (route params without the placeholder)
   */
  authorize(
    identity: AgentIdentity,
    requirement: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context?: VerifyContext,
  ): void;
  /**
   * The synchronous half of `verify`, for adapters whose framework can go on without a promise:
   * when the token was verified before (sent as exactly `Bearer <token>`, still usable and, in
   * `hybrid`/`broker` mode, fresh), applies the requirement and returns the identity, or throws
   * the `GuardError` `verify` would reject with, reporting the decision as `verify` does.
   * `undefined` when `verify` is needed (nothing is reported then).
   */
  verifyCached(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context?: VerifyContext,
  ): AgentIdentity | undefined;
  /** `authenticate` then, when a requirement is given, `authorize`, reported as one decision. */
  verify(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context?: VerifyContext,
  ): Promise<AgentIdentity>;
  /** A `GuardError` carrying this guard's realm, resource metadata and caps (for adapter-level refusals). */
  /**
   * A refusal with this guard's realm and resource metadata. `maxChallengeScopes` overrides the
   * guard's own cap for this one error (an MCP gate given its own).
   */
  error(code: GuardErrorCode, init?: { scope?: readonly string[]; cause?: unknown; reason?: string; maxChallengeScopes?: number }): GuardError;
  /** The configuration in force. */
  describe(): GuardDescription;
  /** `GET {brokerUrl}/v1/health`, within `brokerTimeoutMs`. Never throws. */
  probe(): Promise<ProbeResult>;
  /** Drops every cached verdict. */
  clearCache(): void;
  /**
   * Counters for diagnostics and benchmarks: broker calls made, verified tokens cached (at most
   * `cache.max`) and refusals remembered (at most `max(64, cache.max / 4)`, kept apart).
   */
  stats(): { readonly brokerCalls: number; readonly cacheSize: number; readonly refusalCacheSize: number };
}

/** Codes logged above `debug`: the server's or the broker's trouble, not the client's. */
const LOG_LEVEL_OF: Partial<Record<GuardErrorCode, LogLevel>> = {
  broker_unavailable: "warn",
  jwks_unavailable: "warn",
  broker_claims_mismatch: "error",
  broker_misconfigured: "error",
  internal_error: "error",
  guard_not_mounted: "error",
  requirement_param_missing: "error",
};

const NO_CONTEXT: VerifyContext = Object.freeze({});
/** `started` of a decision nobody times (no `onDecision` listener, no tracer provider). */
const NOT_TIMED = -1;

class GuardImpl implements Guard {
  readonly #o: ResolvedOptions;
  readonly #auth: Authenticator;
  readonly #compiled = new Map<string, CompiledRequirement>();
  readonly #compiledObjects = new WeakMap<object, CompiledRequirement>();
  readonly #limiter = new LogLimiter();
  /** `undefined` when turned off; records only once `@opentelemetry/api` is found. */
  readonly #telemetry: Telemetry | undefined;
  readonly mode: GuardMode;
  readonly realm: string | undefined;
  readonly resourceMetadataUrl: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly logger: GuardLogger | undefined;

  constructor(options: GuardOptions) {
    const o = resolveOptions(options);
    this.#o = o;
    this.mode = o.mode;
    this.realm = o.realm;
    this.resourceMetadataUrl = o.resourceMetadataUrl;
    this.audience = o.audience;
    this.logger = o.logger;
    this.#telemetry = o.telemetry === false ? undefined : new Telemetry(o.telemetry);
    this.#auth = new Authenticator(o, this.#telemetry);
    if (o.logger !== undefined) logGuardConfiguration(o.logger, this.describe());
  }

  error(code: GuardErrorCode, init: { scope?: readonly string[]; cause?: unknown; reason?: string; maxChallengeScopes?: number } = {}): GuardError {
    return new GuardError(code, {
      ...init,
      realm: this.realm,
      resourceMetadataUrl: this.resourceMetadataUrl,
      maxChallengeScopes: init.maxChallengeScopes ?? this.#o.maxChallengeScopes,
    });
  }

  describe(): GuardDescription {
    const o = this.#o;
    return {
      mode: o.mode,
      brokerUrl: o.brokerUrl,
      kids: o.keyXs.map(ed25519KidSync),
      jwksUri: o.jwksUri,
      issuer: o.issuer,
      audience: o.audience,
      maxStalenessSec: o.maxStalenessSec,
      trustDomain: o.trustDomain,
      allowNonAgentSubjects: o.allowNonAgentSubjects,
      clockToleranceSec: o.clockToleranceSec,
      maxDelegationDepth: o.maxDelegationDepth,
      maxTokenBytes: o.maxTokenBytes,
      cacheMax: o.cacheMax,
      maxParamLength: o.maxParamLength,
      maxChallengeScopes: o.maxChallengeScopes,
    };
  }

  async probe(): Promise<ProbeResult> {
    const o = this.#o;
    if (o.brokerUrl === undefined) return { ok: false, latencyMs: 0, reason: "no brokerUrl is configured (local mode)" };
    const url = o.brokerUrl + "/v1/health";
    const started = performance.now();
    const latency = (): number => Math.round((performance.now() - started) * 10) / 10;
    try {
      const res = await o.fetch(url, { method: "GET", headers: { accept: "application/json" }, signal: AbortSignal.timeout(o.brokerTimeoutMs), redirect: "error" });
      const text = await readCappedText(res.body, 16 * 1024);
      const latencyMs = latency();
      if (res.status !== 200) {
        const hint = res.status === 404 || res.status === 405 ? ": brokerUrl must be the broker's base URL (no /v1 or other path)" : "";
        return { ok: false, latencyMs, reason: `GET ${url} answered HTTP ${String(res.status)}${hint}` };
      }
      let body: unknown;
      try {
        body = JSON.parse(text ?? "");
      } catch {
        return { ok: false, latencyMs, reason: `GET ${url} answered with a body that is not JSON: is brokerUrl an AgentWrit broker?` };
      }
      const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      const version = typeof b.version === "string" ? b.version.slice(0, 64) : undefined;
      if (b.status !== "ok") return { ok: false, latencyMs, ...(version === undefined ? {} : { version }), reason: `GET ${url} did not answer status "ok"` };
      return { ok: true, latencyMs, ...(version === undefined ? {} : { version }) };
    } catch (e) {
      const redirected = e instanceof Error && String((e as { cause?: unknown }).cause).includes("redirect");
      return { ok: false, latencyMs: latency(), reason: `GET ${url} ${redirected ? "answered with a redirect" : describeFetchFailure(e, o.brokerTimeoutMs)}` };
    }
  }

  clearCache(): void {
    this.#auth.clear();
  }

  stats(): { brokerCalls: number; cacheSize: number; refusalCacheSize: number } {
    return this.#auth.stats();
  }

  authenticate(authorization: string | null | undefined, context?: VerifyContext): Promise<AgentIdentity> {
    return this.verify(authorization, undefined, undefined, context);
  }

  verifyCached(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context: VerifyContext = NO_CONTEXT,
  ): AgentIdentity | undefined {
    const watch = this.#watch();
    const started = watch & WATCH_TIMED ? performance.now() : NOT_TIMED;
    // Hot path: a token verified before, sent as exactly "Bearer <token>", answered from the
    // cache: no parsing, no signature work, no network, no promise.
    const hot = this.#auth.hot(authorization);
    if (hot === undefined) return undefined;
    if (watch & WATCH_METRICS) this.#telemetry?.cacheLookup(true);
    try {
      return this.#finish(hot, requirement, params, context, watch, started);
    } catch (e) {
      throw this.#deny(e, hot, requirement !== undefined, context, watch, started, true);
    }
  }

  verify(
    authorization: string | null | undefined,
    requirement?: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context: VerifyContext = NO_CONTEXT,
  ): Promise<AgentIdentity> {
    const watch = this.#watch();
    const started = watch & WATCH_TIMED ? performance.now() : NOT_TIMED;
    // Hot path: as verifyCached, with the answer wrapped in a promise.
    const hot = this.#auth.hot(authorization);
    if (hot !== undefined) {
      if (watch & WATCH_METRICS) this.#telemetry?.cacheLookup(true);
      try {
        return Promise.resolve(this.#finish(hot, requirement, params, context, watch, started));
      } catch (e) {
        return Promise.reject(this.#deny(e, hot, requirement !== undefined, context, watch, started, true));
      }
    }
    return this.#cold(authorization, requirement, params, context, watch, started);
  }

  async #cold(
    authorization: string | null | undefined,
    requirement: Requirement | CompiledRequirement | undefined,
    params: RequirementParams | undefined,
    context: VerifyContext,
    watch: number,
    started: number,
  ): Promise<AgentIdentity> {
    const loading = this.#telemetry?.loading;
    if (loading !== undefined) {
      // Once: the first cold verification waits for the lookup of @opentelemetry/api.
      await loading;
      watch = this.#watch();
      started = watch & WATCH_TIMED ? performance.now() : NOT_TIMED;
    }
    let identity: AgentIdentity | undefined;
    try {
      identity = await this.#auth.authenticate(authorization);
      return this.#finish(identity, requirement, params, context, watch, started);
    } catch (e) {
      throw this.#deny(e, identity, identity !== undefined && requirement !== undefined, context, watch, started, true);
    }
  }

  #evaluate(
    identity: AgentIdentity,
    requirement: Requirement | CompiledRequirement,
    params: RequirementParams | undefined,
    context: VerifyContext,
  ): RequirementResult {
    const result = evaluateRequirement(this.#compile(requirement), identity.scope, params, {
      paramSource: context.paramSource,
      maxParamLength: this.#o.maxParamLength,
      label: context.route,
    });
    if (!result.satisfied) {
      const shown = result.missing.slice(0, 3).join(", ") + (result.missing.length > 3 ? `, …${String(result.missing.length - 3)} more` : "");
      refuse("insufficient_scope", `the agent lacks ${shown}${context.route === undefined ? "" : ` for ${context.route}`}`, result, result.missing);
    }
    return result;
  }

  /** Applies the requirement (if any) and reports the allow decision of a `verify`. */
  #finish(
    identity: AgentIdentity,
    requirement: Requirement | CompiledRequirement | undefined,
    params: RequirementParams | undefined,
    context: VerifyContext,
    watch: number,
    started: number,
  ): AgentIdentity {
    if (requirement === undefined) {
      this.#emit("allow", "authenticate", undefined, identity, undefined, undefined, context, watch, started, true);
      return identity;
    }
    const result = this.#evaluate(identity, requirement, params, context);
    this.#emit("allow", "authorize", undefined, identity, result.required, undefined, context, watch, started, true);
    return identity;
  }

  #deny(
    e: unknown,
    identity: AgentIdentity | undefined,
    authorizing: boolean,
    context: VerifyContext,
    watch: number,
    started: number,
    verification: boolean,
  ): GuardError {
    const err = this.#toGuardError(e);
    const detail = e instanceof Refusal && e.code === "insufficient_scope" ? (e.cause as RequirementResult) : undefined;
    this.#emit("deny", authorizing ? "authorize" : "authenticate", err, identity, detail?.required, detail?.missing, context, watch, started, verification);
    return err;
  }

  authorize(
    identity: AgentIdentity,
    requirement: Requirement | CompiledRequirement,
    params?: RequirementParams,
    context: VerifyContext = NO_CONTEXT,
  ): void {
    const watch = this.#watch();
    const started = watch & WATCH_TIMED ? performance.now() : NOT_TIMED;
    let result: RequirementResult;
    try {
      result = this.#evaluate(identity, requirement, params, context);
    } catch (e) {
      throw this.#deny(e, identity, true, context, watch, started, false);
    }
    this.#emit("allow", "authorize", undefined, identity, result.required, undefined, context, watch, started, false);
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
      return this.error(e.code, {
        cause,
        ...(e.reason === undefined ? {} : { reason: e.reason }),
        ...(e.scope === undefined ? {} : { scope: e.scope }),
      });
    }
    if (isGuardError(e)) return e;
    // A TypeError from a malformed requirement is a programming error: let it surface as such.
    if (e instanceof TypeError && e.message.startsWith("scope requirement")) throw e;
    const why = e instanceof Error ? `${e.name}: ${e.message.slice(0, 160)}` : typeof e;
    return this.error("internal_error", { cause: e, reason: `an unexpected error while checking the token (${why})` });
  }

  /**
   * What a decision feeds besides a logger, read once per call: OpenTelemetry metrics and spans
   * (an SDK's providers registered), and whether anything consumes its duration (an `onDecision`
   * listener, spans: `WATCH_TIMED`, the clock is read then only).
   */
  #watch(): number {
    let watch = this.#o.onDecision === undefined ? 0 : WATCH_TIMED;
    const t = this.#telemetry;
    if (t?.enabled === true) {
      if (t.metering()) watch |= WATCH_METRICS;
      if (t.tracing()) watch |= WATCH_TRACES | WATCH_TIMED;
    }
    return watch;
  }

  /**
   * Reports a decision to whatever consumes it: the `onDecision` listener, OpenTelemetry (a
   * registered SDK), the logger of this call (`context.logger`, else the guard's) when it takes
   * the decision's level. Builds nothing when nothing does.
   */
  #emit(
    outcome: "allow" | "deny",
    phase: "authenticate" | "authorize",
    err: GuardError | undefined,
    identity: AgentIdentity | undefined,
    required: readonly string[] | undefined,
    missing: readonly string[] | undefined,
    context: VerifyContext,
    watch: number,
    started: number,
    /** From `verify` (or `authenticate`): recorded as a span too. */
    verification: boolean,
  ): void {
    const level: LogLevel = err === undefined ? "debug" : (LOG_LEVEL_OF[err.code] ?? "debug");
    let logger = context.logger ?? this.#o.logger;
    if (logger !== undefined && !levelEnabled(logger, level)) logger = undefined;
    const cb = this.#o.onDecision;
    if (logger === undefined && watch === 0) return;
    const event: DecisionEvent = {
      outcome,
      phase,
      code: err?.code,
      status: err?.status,
      reason: err?.reason,
      route: context.route,
      mode: this.mode,
      agentId: identity?.agentId,
      jti: identity?.jti,
      source: identity?.source,
      required,
      missing,
      delegationDepth: identity?.delegationDepth,
      durationMs: started === NOT_TIMED ? 0 : performance.now() - started,
    };
    if (watch & (WATCH_METRICS | WATCH_TRACES)) this.#telemetry?.decision(event, watch, started, verification);
    if (logger !== undefined) this.#log(logger, level, event);
    if (cb === undefined) return;
    try {
      const r = cb(event);
      if (r instanceof Promise) r.catch(() => undefined);
    } catch {
      // A faulty listener must never change a decision.
    }
  }

  /** One line per decision, rate-limited per level and code; never a token. */
  #log(logger: GuardLogger, level: LogLevel, event: DecisionEvent): void {
    const key = event.code === undefined ? "debug:allow" : level + ":" + event.code;
    const suppressed = this.#limiter.admit(key);
    if (suppressed === false) return;
    const line: Record<string, unknown> = { outcome: event.outcome, phase: event.phase };
    if (event.code !== undefined) line.code = event.code;
    if (event.status !== undefined) line.status = event.status;
    if (event.reason !== undefined) line.reason = event.reason;
    if (event.route !== undefined) line.route = event.route;
    if (event.agentId !== undefined) line.agentId = event.agentId;
    if (event.jti !== undefined) line.jti = event.jti;
    if (event.source !== undefined) line.source = event.source;
    if (event.missing !== undefined) line.missing = event.missing.slice(0, 16);
    if (suppressed > 0) line.suppressed = suppressed;
    const msg = event.outcome === "allow" ? "agentwrit: allowed" : `agentwrit: refused (${event.code ?? "?"}): ${event.reason ?? ""}`;
    writeLog(logger, level, line, msg);
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
