/**
 * Hono 4 middleware, Web APIs only. Every rule lives in `@agentwrit/guard`: this file only reads
 * the header, calls the guard, and throws what it decided as an `HTTPException`.
 */
import {
  isRequirement,
  anyOf,
  compileRequirement,
  GuardError,
  isGuardError,
  markRouteRequirement,
  toErrorResponse,
  WiringReport,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type Requirement,
} from "@agentwrit/guard";
import type { Context, Env, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { guardSource, type AgentWritHonoOptions } from "./guard-source.js";
import { paramContext, routeLabel } from "./route-context.js";

/** Context variables set by the middleware: `c.get("agentwrit")`, `c.var.agentwrit`. */
export type AgentWritVariables = { agentwrit: AgentIdentity };
/**
 * The `Env` the middleware adds to the handlers after it: in the same route definition
 * (`app.get(path, requireScope(…), (c) => c.var.agentwrit)`), or on every route of an app chained
 * from it (`new Hono().use("*", agentwritGuard())`). Declaring it yourself on an app
 * (`new Hono<AgentWritEnv>()`) promises an agent on every route, guarded or not.
 */
export type AgentWritEnv = { Variables: AgentWritVariables };
/**
 * The context of a handler behind the middleware, for handlers declared apart from the route:
 * `const handler = (c: AgentWritContext<"/orders/:id">) => c.json(c.var.agentwrit)`.
 * `E`: the app's own `Env` (bindings, other variables).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- Hono's own default Env
export type AgentWritContext<P extends string = string, E extends Env = {}> = Context<E & AgentWritEnv, P>;

/**
 * What verified each request (the guard, and the identity it returned), so `requireScope` asks
 * the same guard and trusts only that identity (not whatever the context variable holds later).
 * Kept on the raw `Request` (a sub-app handed `c.req.raw` sees it too) under symbols of this
 * module: two property writes cost less than a WeakMap entry per request. A `Request` that
 * takes no property (frozen by some runtime) falls back to the WeakMap.
 */
const VERIFIED_BY = Symbol("@agentwrit/guard-hono verified by");
const VERIFIED = Symbol("@agentwrit/guard-hono identity");
interface Marked {
  [VERIFIED_BY]?: Guard;
  [VERIFIED]?: AgentIdentity;
}
const unmarkable = new WeakMap<Request, { readonly guard: Guard; readonly identity: AgentIdentity }>();
/** True once a `Request` took no property: only then is the WeakMap read. */
let anyUnmarkable = false;

function verifiedOf(raw: Request): { readonly guard: Guard | undefined; readonly identity: AgentIdentity | undefined } | undefined {
  const marked = raw as Request & Marked;
  const guard = marked[VERIFIED_BY];
  if (guard !== undefined) return { guard, identity: marked[VERIFIED] };
  return anyUnmarkable ? unmarkable.get(raw) : undefined;
}

/** The identity `guard` verified for this request, if it did. */
function knownTo(raw: Request, guard: Guard): AgentIdentity | undefined {
  const marked = raw as Request & Marked;
  const by = marked[VERIFIED_BY];
  if (by !== undefined) return by === guard ? marked[VERIFIED] : undefined;
  if (!anyUnmarkable) return undefined;
  const entry = unmarkable.get(raw);
  return entry?.guard === guard ? entry.identity : undefined;
}

function accept(c: Context, guard: Guard, identity: AgentIdentity): void {
  c.set("agentwrit", identity);
  const raw = c.req.raw;
  try {
    const marked = raw as Request & Marked;
    marked[VERIFIED_BY] = guard;
    marked[VERIFIED] = identity;
    return;
  } catch {
    // A Request that takes no property (ES modules are strict: the write throws).
  }
  anyUnmarkable = true;
  unmarkable.set(raw, { guard, identity });
}

/**
 * The refusal as an `HTTPException`: `res` is the ready challenge response (status,
 * `WWW-Authenticate` or `Retry-After`, problem+json body); `cause` is the `GuardError`.
 */
function refusal(err: GuardError): HTTPException {
  const r = toErrorResponse(err);
  const res = new Response(r.body, { status: r.status, headers: r.headers });
  return new HTTPException(r.status as ContentfulStatusCode, { res, cause: err, message: err.message });
}

const paramsOf = (c: Context): Record<string, string> => c.req.param();

/**
 * The check `agentwritGuard` and `guarded` share, built once per middleware or handler: it verifies
 * the request and sets `c.var.agentwrit`, returning `undefined` when it is done (a cached token, or
 * a request the same guard verified already) and a promise otherwise. A refusal is thrown (or the
 * promise rejects) as the `HTTPException` Hono answers.
 */
export interface Verification {
  readonly requirement: CompiledRequirement | undefined;
  readonly check: (c: Context) => Promise<void> | undefined;
}

/** Reads `agentwritGuard`'s arguments: `(requirement?, options?)` or `(options)`. */
export function verification(first?: Requirement | CompiledRequirement | AgentWritHonoOptions, second?: AgentWritHonoOptions): Verification {
  const firstIsRequirement = first === undefined || isRequirement(first);
  const requirement = firstIsRequirement && first !== undefined ? compileRequirement(first) : undefined;
  const source = guardSource(firstIsRequirement ? second : (first as AgentWritHonoOptions));
  const wiring = new WiringReport();
  const refuse = (e: unknown, guard: Guard, c: Context): never => {
    if (!isGuardError(e)) throw e;
    wiring.report(e, guard.logger !== undefined, () => routeLabel(c));
    throw refusal(e);
  };
  const check = (c: Context): Promise<void> | undefined => {
    const guard = source(c);
    // A request this guard already verified is not asked twice.
    const known = knownTo(c.req.raw, guard);
    try {
      if (known === undefined) {
        // c.req.param() builds an object: only when a requirement can use it.
        const params = requirement === undefined ? undefined : paramsOf(c);
        const context = paramContext(c, requirement, params);
        // Every Authorization header: Hono joins several (refused as several credentials).
        const authorization = c.req.header("authorization");
        // A cached token is answered without a promise.
        const identity = guard.verifyCached(authorization, requirement, params, context);
        if (identity === undefined) {
          return guard.verify(authorization, requirement, params, context).then(
            (verified) => {
              accept(c, guard, verified);
            },
            (e: unknown) => refuse(e, guard, c),
          );
        }
        accept(c, guard, identity);
      } else {
        if (requirement !== undefined) {
          const params = paramsOf(c);
          guard.authorize(known, requirement, params, paramContext(c, requirement, params));
        }
        // A sub-app handed c.req.raw has a context of its own: the agent goes on it too.
        c.set("agentwrit", known);
      }
    } catch (e) {
      refuse(e, guard, c);
    }
    return undefined;
  };
  return { requirement, check };
}

/**
 * Verifies the agent token and, when a requirement is given, the scope it grants; the agent is
 * then `c.get("agentwrit")`. `{placeholders}` bind to `c.req.param()`.
 * Options may be a function of the context (`(c) => ({ brokerUrl: c.env.AGENTWRIT_BROKER_URL })`).
 * With no options, reads `AGENTWRIT_*` from `process.env` now (or, without `process`, from `c.env`),
 * sharing one guard with every zero-config middleware of the same configuration.
 * @throws TypeError at construction for a malformed requirement or configuration
 * @throws HTTPException per request, with `res` the challenge and `cause` the `GuardError`
 */
export function agentwritGuard(requirement?: Requirement | CompiledRequirement, options?: AgentWritHonoOptions): MiddlewareHandler<AgentWritEnv>;
export function agentwritGuard(options: AgentWritHonoOptions): MiddlewareHandler<AgentWritEnv>;
export function agentwritGuard(
  first?: Requirement | CompiledRequirement | AgentWritHonoOptions,
  second?: AgentWritHonoOptions,
): MiddlewareHandler<AgentWritEnv> {
  const { requirement, check } = verification(first, second);
  const middleware = createMiddleware<AgentWritEnv>(async (c, next) => {
    const pending = check(c);
    if (pending !== undefined) await pending;
    await next();
  });
  return markRouteRequirement(middleware, requirement);
}

function scopeCheck(requirement: CompiledRequirement, name: string): MiddlewareHandler<AgentWritEnv> {
  const wiring = new WiringReport();
  const middleware = createMiddleware<AgentWritEnv>(async (c, next) => {
    const verified = verifiedOf(c.req.raw);
    if (verified?.guard === undefined || verified.identity === undefined) {
      // No guard ran before this check: the server's wiring mistake, not the client's missing token.
      const err = new GuardError("guard_not_mounted", {
        reason: `${name}() on ${routeLabel(c)} ran with no agentwritGuard() before it on this request: mount agentwritGuard() (app.use or on the route) first`,
      });
      wiring.report(err, false, routeLabel(c));
      throw refusal(err);
    }
    try {
      const params = paramsOf(c);
      verified.guard.authorize(verified.identity, requirement, params, paramContext(c, requirement, params));
      // As agentwritGuard does: a sub-app handed c.req.raw has a context of its own.
      c.set("agentwrit", verified.identity);
    } catch (e) {
      if (!isGuardError(e)) throw e;
      wiring.report(e, verified.guard.logger !== undefined, () => routeLabel(c));
      throw refusal(e);
    }
    await next();
  });
  return markRouteRequirement(middleware, requirement);
}

function nonEmpty(list: readonly unknown[], name: string): void {
  if (list.length === 0) throw new TypeError(`${name}() needs at least one requirement`);
}

/**
 * Checks that the agent verified by an earlier `agentwritGuard()` holds ALL of the requirements
 * (`{placeholders}` bound to `c.req.param()`). Without an earlier guard on the request it answers
 * 500 `guard_not_mounted` (a wiring mistake, logged once) and the handler never runs.
 * @throws TypeError at construction for a malformed or empty requirement
 */
export function requireScope(...requirements: Requirement[]): MiddlewareHandler<AgentWritEnv> {
  nonEmpty(requirements, "requireScope");
  return scopeCheck(compileRequirement(requirements), "requireScope");
}

/** Like {@link requireScope}, but ANY one of the requirements is enough. */
export function requireAnyScope(...requirements: Requirement[]): MiddlewareHandler<AgentWritEnv> {
  nonEmpty(requirements, "requireAnyScope");
  return scopeCheck(compileRequirement(anyOf(...requirements)), "requireAnyScope");
}
