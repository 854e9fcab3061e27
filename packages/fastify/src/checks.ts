/**
 * The hooks that call the guard. One `Checks` per plugin registration: its guard, the identity
 * it verified per request (so a request is verified once, and only an identity it returned is
 * trusted), and where it logs.
 */
import {
  authorizationFromRawHeaders,
  isGuardError,
  placeholdersMissingFromRoute,
  PROBLEM_CONTENT_TYPE,
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardError,
  type GuardLogger,
  type RequirementParams,
  type VerifyContext,
} from "@agentwrit/guard";
import type { FastifyReply, FastifyRequest } from "fastify";
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
  readonly #verified = new WeakMap<FastifyRequest, AgentIdentity>();
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
      const label = routeLabel(options.method, url);
      const declaresAll = placeholdersMissingFromRoute(requirement, url).length === 0;
      context = Object.freeze({ paramSource: declaresAll ? "input" : "route", route: label });
      this.#unboundContexts.set(options.config, context);
    }
    return context;
  }

  #make(spec: HookSpec, bound: VerifyContext | undefined): AgentWritHook {
    const guard = this.#guard;
    const verified = this.#verified;
    const wiringLog = this.#wiringLog;
    const requestLog = this.#requestLog;
    const { requirement, verify, name } = spec;
    // The context with `request.log` is rebuilt only when the logger or the route changes: with
    // logging off (one shared no-op logger) never, with pino once per request (a child each).
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
    let reported = false;
    const report = (err: GuardError, request: FastifyRequest, context: VerifyContext): void => {
      // The guard logs its own 500s when it has a logger; `guard_not_mounted` is raised here.
      if (reported || err.status !== 500 || (guard.logger !== undefined && err.code !== "guard_not_mounted")) return;
      reported = true;
      wiringLog.error({ code: err.code, route: context.route ?? routeOf(request), reason: err.reason }, `agentwrit: ${err.reason}`);
    };
    return async function agentwrit(request: FastifyRequest, reply: FastifyReply) {
      const context = contextOf(request);
      const params = request.params as RequirementParams | undefined;
      try {
        const known = verified.get(request);
        if (known !== undefined) {
          if (requirement !== undefined) guard.authorize(known, requirement, params, context);
        } else if (verify) {
          const identity = await guard.verify(authorizationFromRawHeaders(request.raw.rawHeaders), requirement, params, context);
          verified.set(request, identity);
          request.agentwrit = identity;
        } else {
          // No check verified this request first: the server's wiring mistake, not a missing token.
          throw guard.error("guard_not_mounted", {
            reason: `${name} on ${context.route ?? routeOf(request)} ran with no AgentWrit check before it on this request: put app.agentwritGuard() or config.agentwrit first`,
          });
        }
      } catch (e) {
        if (!isGuardError(e)) throw e;
        report(e, request, context);
        return refuse(reply, e);
      }
      return undefined;
    };
  }
}

/** A hook that always refuses with `err`. */
function refusing(err: GuardError): AgentWritHook {
  return async (_request, reply) => refuse(reply, err);
}

/** Sends a refusal: status, challenge (or `Retry-After`), `no-store` and the problem body. */
function refuse(reply: FastifyReply, err: GuardError): FastifyReply {
  const r = toErrorResponse(err);
  return reply.code(r.status).headers(r.headers).type(PROBLEM_CONTENT_TYPE).send(r.body);
}
