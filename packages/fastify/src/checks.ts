/**
 * The hooks that call the guard. One `Checks` per plugin registration: its guard, the identity
 * it verified per request (so a request is verified once, and only an identity it returned is
 * trusted: kept under a symbol of its own that the plugin declares on every request, not in
 * `request.agentwrit`, which handlers may overwrite), and where it logs.
 */
import {
  asNextError,
  authorizationFromRawHeaders,
  isGuardError,
  PROBLEM_CONTENT_TYPE,
  WiringReport,
  routeVerifyContext,
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardError,
  type GuardLogger,
  type RequirementParams,
  type VerifyContext,
} from "@agentwrit/guard";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import type { AgentWritHook } from "./augment.js";
import type { PluginSetup } from "./guard-setup.js";
import { readRouteConfig, routeContext, routeLabel } from "./route-config.js";

export interface HookSpec {
  readonly requirement: CompiledRequirement | undefined;
  /** `false`: only authorize the agent an earlier check verified (`requireScope`). */
  readonly verify: boolean;
  /** What the developer wrote, for messages: `requireScope()`, `config.agentwrit`… */
  readonly name: string;
}

/** A hook added where its route is unknown (`app.addHook`): a missing placeholder is the server's mistake. */
const UNBOUND: VerifyContext = Object.freeze({ paramSource: "route" });

/** What Fastify keeps of a route in `request.routeOptions.config` (plus the route's own config). */
interface RouteConfig {
  readonly agentwrit?: unknown;
  readonly url?: string;
  readonly method?: string | readonly string[];
}

const routeOf = (request: FastifyRequest): string => routeLabel(request.method, request.routeOptions.url ?? request.url);

export class Checks {
  readonly #guard: Guard;
  readonly #requestLog: boolean;
  readonly #wiringLog: GuardLogger;
  /**
   * The request property holding the identity this registration verified. The plugin declares it
   * (`decorateRequest`), so that every request object has it from the start (no WeakMap, no new
   * hidden class per request).
   */
  readonly slot: symbol = Symbol("@agentwrit/guard-fastify verified");
  readonly #specs = new WeakMap<object, HookSpec>();
  /** Per route (its config object): the context of templated hooks added without a route, and late checks. */
  readonly #unboundContexts = new WeakMap<object, VerifyContext>();
  readonly #late = new WeakMap<object, AgentWritHook>();

  constructor(setup: PluginSetup) {
    this.#guard = setup.guard;
    this.#requestLog = setup.requestLog;
    this.#wiringLog = setup.wiringLog;
  }

  /** What `app.agentwritGuard()` and `app.requireScope()` return: `onRoute` binds it to its route. */
  unbound(spec: HookSpec): AgentWritHook {
    const hook = this.#make(spec, undefined);
    this.#specs.set(hook, spec);
    return hook;
  }

  /** The spec of a hook `unbound` made, so that `onRoute` can bind it. */
  specOf(fn: unknown): HookSpec | undefined {
    return typeof fn === "function" ? this.#specs.get(fn) : undefined;
  }

  /** A hook bound to one route: its label and where its placeholders come from. */
  bound(spec: HookSpec, context: VerifyContext): AgentWritHook {
    return this.#make(spec, context);
  }

  /**
   * The check of a route whose `config.agentwrit` no plugin's `onRoute` hook saw (declared before
   * the plugin loaded): built on its first request. A configuration mistake there answers 500
   * and is logged once, since it could not be a `TypeError` at registration.
   */
  late(config: RouteConfig): AgentWritHook {
    let hook = this.#late.get(config);
    if (hook === undefined) {
      const url = config.url ?? "";
      const label = routeLabel(config.method ?? "", url);
      try {
        const requirement = readRouteConfig(config.agentwrit, label);
        hook = this.bound({ requirement, verify: true, name: "config.agentwrit" }, routeContext(requirement, url, label));
      } catch (e) {
        hook = this.#refusing(
          label,
          `${e instanceof Error ? e.message : String(e)} (found on the first request: the route was declared before @agentwrit/guard-fastify was registered)`,
        );
      }
      this.#late.set(config, hook);
    }
    return hook;
  }

  /**
   * The answer for a route declaring `config.agentwrit` in a context no registration of the plugin
   * encloses (its hooks never reach it): 500 `guard_not_mounted`, logged once, never served.
   */
  uncovered(config: RouteConfig): AgentWritHook {
    let hook = this.#late.get(config);
    if (hook === undefined) {
      const label = routeLabel(config.method ?? "", config.url ?? "");
      hook = this.#refusing(
        label,
        `${label} declares config.agentwrit, but it was declared before @agentwrit/guard-fastify loaded, in a context no registration of the plugin encloses: register the plugin at the root`,
      );
      this.#late.set(config, hook);
    }
    return hook;
  }

  /** A hook that always answers 500 `guard_not_mounted`, logged once now. */
  #refusing(label: string, reason: string): AgentWritHook {
    const err = this.#guard.error("guard_not_mounted", { reason });
    this.#wiringLog.error({ code: err.code, route: label, reason: err.reason }, `agentwrit: ${err.reason}`);
    return refusing(err);
  }

  /** The context of a templated hook added with `app.addHook` (no route known): worked out once per route. */
  #unboundContext(request: FastifyRequest, requirement: CompiledRequirement | undefined): VerifyContext {
    if (requirement === undefined || requirement.params.length === 0) return UNBOUND;
    const options = request.routeOptions;
    let context = this.#unboundContexts.get(options.config);
    if (context === undefined) {
      const url = options.url ?? "";
      context = routeVerifyContext(requirement, routeLabel(options.method, url), url);
      this.#unboundContexts.set(options.config, context);
    }
    return context;
  }

  #make(spec: HookSpec, bound: VerifyContext | undefined): AgentWritHook {
    const guard = this.#guard;
    const slot = this.slot;
    const requestLog = this.#requestLog;
    // The guard logs its own refusals (500s included) when it has a logger or gets request.log.
    const guardLogs = requestLog || guard.logger !== undefined;
    const { requirement, verify, name } = spec;
    // The context with `request.log` is rebuilt only when the logger or the route changes: with
    // logging off never, with pino once per request (a child each).
    let lastLog: unknown;
    let lastBase: VerifyContext | undefined;
    let lastContext: VerifyContext = UNBOUND;
    const contextOf = (request: FastifyRequest): VerifyContext => {
      const base = bound ?? this.#unboundContext(request, requirement);
      if (!requestLog) return base;
      if (request.log === lastLog && base === lastBase) return lastContext;
      lastLog = request.log;
      lastBase = base;
      lastContext = { paramSource: base.paramSource, route: base.route, logger: request.log };
      return lastContext;
    };
    const wiring = new WiringReport(this.#wiringLog);
    /** The refusal to send for `e` (reported once if it is a wiring mistake); anything else is rethrown. */
    const refusal = (e: unknown, request: FastifyRequest, context: VerifyContext): GuardError => {
      if (!isGuardError(e)) throw e;
      wiring.report(e, guardLogs, () => context.route ?? routeOf(request));
      return e;
    };
    const accept = (request: FastifyRequest, identity: AgentIdentity): void => {
      (request as unknown as Record<symbol, unknown>)[slot] = identity;
      request.agentwrit = identity;
    };
    return hookOf((request) => {
      const context = contextOf(request);
      const params = request.params as RequirementParams | undefined;
      try {
        const known = (request as unknown as Record<symbol, AgentIdentity | undefined>)[slot];
        if (known !== undefined) {
          if (requirement !== undefined) guard.authorize(known, requirement, params, context);
          return undefined;
        }
        if (!verify) {
          // No check verified this request first: the server's wiring mistake, not a missing token.
          throw guard.error("guard_not_mounted", {
            reason: `${name} on ${context.route ?? routeOf(request)} ran with no AgentWrit check before it on this request: put app.agentwritGuard() or config.agentwrit first`,
          });
        }
        // Every Authorization header (joined, so that several are refused), not only the first.
        const authorization = authorizationFromRawHeaders(request.raw.rawHeaders);
        // A cached token is answered synchronously: no promise, no tick.
        const identity = guard.verifyCached(authorization, requirement, params, context);
        if (identity !== undefined) {
          accept(request, identity);
          return undefined;
        }
        return guard.verify(authorization, requirement, params, context).then(
          (verified) => {
            accept(request, verified);
            return undefined;
          },
          (e: unknown) => refusal(e, request, context),
        );
      } catch (e) {
        return refusal(e, request, context);
      }
    });
  }
}

/** What a check decided: passed (`undefined`), refused (the error to send), or a promise of either. */
type Outcome = GuardError | undefined | Promise<GuardError | undefined>;

/**
 * The hook for a check. Fastify passes `done`: callback style, so a request decided synchronously
 * (a cached token) costs no promise; a refusal is sent and `done` is not called. Called with two
 * arguments (from an app's own async hook), it returns a promise as an async hook does: the reply
 * when it refused, `undefined` when the request may go on.
 */
function hookOf(check: (request: FastifyRequest) => Outcome): AgentWritHook {
  function agentwrit(request: FastifyRequest, reply: FastifyReply, done?: HookHandlerDoneFunction): Promise<FastifyReply | undefined> | undefined {
    if (typeof done !== "function") {
      return (async () => {
        const err = await check(request);
        return err === undefined ? undefined : refuse(reply, err);
      })();
    }
    let outcome: Outcome;
    try {
      outcome = check(request);
    } catch (e) {
      done(asNextError(e) as Error);
      return undefined;
    }
    if (outcome === undefined) done();
    else if (outcome instanceof Promise) {
      outcome.then(
        (err) => {
          if (err === undefined) done();
          else refuse(reply, err);
        },
        (e: unknown) => {
          done(asNextError(e) as Error);
        },
      );
    } else refuse(reply, outcome);
    return undefined;
  }
  return agentwrit as AgentWritHook;
}

/** A hook that always refuses with `err`. */
function refusing(err: GuardError): AgentWritHook {
  return hookOf(() => err);
}

/** Sends a refusal: status, challenge (or `Retry-After`), `no-store` and the problem body. */
function refuse(reply: FastifyReply, err: GuardError): FastifyReply {
  const r = toErrorResponse(err);
  return reply.code(r.status).headers(r.headers).type(PROBLEM_CONTENT_TYPE).send(r.body);
}
