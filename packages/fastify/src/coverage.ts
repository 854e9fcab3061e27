/**
 * The whole app's view: no route that declares `config.agentwrit` is served without its check,
 * wherever the plugin is registered and whatever other `onRoute` hooks do. Fastify's hooks only
 * reach the context they are added to (and its descendants), so each registration also:
 *
 * - records every route declared after it, anywhere in the app (an `onRoute` hook on the root and
 *   on each enclosing context), and at `ready()` fails with a `TypeError` naming each route that
 *   declares `config.agentwrit` but was not bound (declared in a context no registration encloses,
 *   or given `config.agentwrit` by an `onRoute` hook that ran after the plugin's) unless the
 *   late-route hook below checks it, or whose bound check an `onRoute` hook removed;
 * - when routes already exist as it loads, adds one `onRequest` hook to the root (Fastify gives it
 *   to every context): a route declaring `config.agentwrit` that no `onRoute` hook bound is checked
 *   by the registration enclosing it, or, with none, answered 500 `guard_not_mounted`.
 *
 * Fastify makes an encapsulated context with `Object.create(parent)`: the prototype chain leads
 * from any context to the root.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from "fastify";
import type { AgentWritHook } from "./augment.js";
import type { Checks } from "./checks.js";
import { isBound, routeLabel } from "./route-config.js";

/** The route-level hook lists an AgentWrit hook may be given in. */
export const HOOK_LISTS = ["onRequest", "preValidation", "preHandler"] as const;

interface Registry {
  /** The context each registration was made in, and its checks. */
  readonly registrations: WeakMap<object, Checks>;
  /** The first registration: it answers for routes no registration encloses. */
  readonly first: Checks;
  /** Contexts whose `onRoute` hooks record routes for the `ready()` check. */
  readonly watched: WeakSet<object>;
  /** Routes declared since the first registration, with the context each was declared in (emptied at `ready()`). */
  routes: { readonly route: RouteOptions; readonly context: object }[];
  /** The checks the plugin put on a route's hook lists. */
  readonly placed: WeakMap<RouteOptions, unknown[]>;
  lateHook: boolean;
}

const registries = new WeakMap<object, Registry>();

/** The context `Object.getPrototypeOf` leads to, when it is a Fastify context. */
function parentOf(context: object): object | undefined {
  const proto: unknown = Object.getPrototypeOf(context);
  return typeof proto === "object" && proto !== null && proto !== Object.prototype && typeof (proto as { addHook?: unknown }).addHook === "function"
    ? proto
    : undefined;
}

/** `context` and the contexts enclosing it, innermost first, up to the root. */
function chain(context: object): object[] {
  const out = [context];
  for (let p = parentOf(context); p !== undefined; p = parentOf(p)) out.push(p);
  return out;
}

const listOf = (hooks: unknown): unknown[] => (hooks === undefined || hooks === null ? [] : Array.isArray(hooks) ? (hooks as unknown[]) : [hooks]);

/** The checks of the registration enclosing `context`, if any. */
function enclosing(registry: Registry, context: object): Checks | undefined {
  for (const c of chain(context)) {
    const checks = registry.registrations.get(c);
    if (checks !== undefined) return checks;
  }
  return undefined;
}

/** What is wrong with a route at `ready()`, if anything. */
function problemOf(registry: Registry, route: RouteOptions, context: object): string | undefined {
  const label = routeLabel(route.method, route.url);
  const declared: unknown = (route.config as { readonly agentwrit?: unknown } | undefined)?.agentwrit;
  // Unbound but enclosed by a registration while the late-route hook runs: that hook checks it.
  if (declared !== undefined && !isBound(declared) && !(registry.lateHook && enclosing(registry, context) !== undefined)) {
    return (
      `${label}: declares config.agentwrit, but no @agentwrit/guard-fastify registration bound a check to it: register the plugin at the root ` +
      "(or in a context that encloses the route), and do not set config.agentwrit in an onRoute hook added after the plugin"
    );
  }
  const placed = registry.placed.get(route) ?? [];
  const kept = HOOK_LISTS.flatMap((list) => listOf(route[list]));
  if (placed.some((hook) => !kept.includes(hook))) {
    return `${label}: an onRoute hook added after @agentwrit/guard-fastify removed the route's AgentWrit check: keep the hooks you are given`;
  }
  return undefined;
}

/**
 * Registers one plugin registration made in `app`. `lateRoutes`: routes existed when it loaded.
 * Call from the plugin's body (hooks are added while the app is loading).
 */
export function cover(app: FastifyInstance, checks: Checks, lateRoutes: boolean): Registry {
  const contexts = chain(app);
  const root = contexts[contexts.length - 1] as FastifyInstance;
  let registry = registries.get(root);
  if (registry === undefined) {
    const created: Registry = { registrations: new WeakMap(), first: checks, watched: new WeakSet(), routes: [], placed: new WeakMap(), lateHook: false };
    registry = created;
    registries.set(root, created);
    root.addHook("onReady", function agentwritCoverage(done: (err?: Error) => void) {
      const problems: string[] = [];
      for (const { route, context } of created.routes) {
        const problem = problemOf(created, route, context);
        if (problem !== undefined && !problems.includes(problem)) problems.push(problem);
      }
      created.routes = [];
      done(problems.length === 0 ? undefined : new TypeError(`agentwrit: ${problems.join("; ")}`));
    });
  }
  const reg = registry;
  reg.registrations.set(app, checks);
  for (const context of contexts) {
    if (reg.watched.has(context)) continue;
    reg.watched.add(context);
    (context as FastifyInstance).addHook("onRoute", function agentwritRecord(this: object, route: RouteOptions) {
      reg.routes.push({ route, context: this });
    });
  }
  if (lateRoutes && !reg.lateHook) {
    reg.lateHook = true;
    root.addHook("onRequest", lateHook(reg));
  }
  return reg;
}

/** Notes the checks `bindRoute` put on a route, for the `ready()` check. */
export function notePlaced(registry: Registry, route: RouteOptions, hooks: readonly unknown[]): void {
  if (hooks.length === 0) return;
  const list = registry.placed.get(route);
  if (list === undefined) registry.placed.set(route, [...hooks]);
  else list.push(...hooks);
}

/**
 * The root's `onRequest` hook for routes declared before a registration loaded: a route whose
 * `config.agentwrit` no `onRoute` hook bound is checked by the registration enclosing it, or,
 * with none, refused (500). Callback style: no promise for routes without config.agentwrit.
 */
function lateHook(registry: Registry) {
  return function agentwritLateRoutes(this: unknown, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const config = request.routeOptions.config as { readonly agentwrit?: unknown; readonly url?: string; readonly method?: string | readonly string[] };
    const declared = config.agentwrit;
    if (declared === undefined || isBound(declared)) {
      done();
      return;
    }
    const checks = typeof this === "object" && this !== null ? enclosing(registry, this) : undefined;
    const hook: AgentWritHook = checks === undefined ? registry.first.uncovered(config) : checks.late(config);
    hook(request, reply, done);
  };
}
