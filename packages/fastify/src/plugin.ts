/**
 * Fastify 5 plugin. Every rule lives in `@agentwrit/guard`: the plugin only reads the header,
 * calls the guard, and sends what it decided.
 *
 * Routes opt in with `config: { agentwrit: { scope } }` or the `app.agentwritGuard()`,
 * `app.requireScope()` and `app.requireAnyScope()` hooks. An `onRoute` hook binds both to the
 * route when it is declared: the config's check becomes the route's first `onRequest` hook, and
 * every mistake (an unknown key, a placeholder that is not a route parameter) is a `TypeError`
 * naming the route. A route declared before the plugin loaded (registered earlier, or the
 * plugin's `register` not awaited) is not seen by `onRoute`; `coverage.ts` covers those, routes
 * outside the plugin's context, and `onRoute` hooks that undo the binding.
 */
import { anyOf, compileRequirement, type CompiledRequirement, type Guard, type Requirement } from "@agentwrit/guard";
import type { FastifyPluginAsync, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import { Checks } from "./checks.js";
import { cover, HOOK_LISTS, notePlaced } from "./coverage.js";
import { setUpGuard, type AgentWritPluginOptions } from "./guard-setup.js";
import { isBound, markBound, readRouteConfig, routeContext, routeLabel } from "./route-config.js";

function nonEmpty(list: readonly unknown[], name: string): void {
  if (list.length === 0) throw new TypeError(`${name}() needs at least one requirement`);
}

/**
 * `onRoute`: binds the route's AgentWrit hooks and its `config.agentwrit` to the route; returns
 * the checks it put on the route's hook lists.
 */
function bindRoute(route: RouteOptions, checks: Checks): unknown[] {
  const label = routeLabel(route.method, route.url);
  const placed: unknown[] = [];
  for (const list of HOOK_LISTS) {
    const hooks: unknown = route[list];
    if (hooks === undefined) continue;
    const all = Array.isArray(hooks) ? (hooks as unknown[]) : [hooks];
    if (!all.some((h) => checks.specOf(h) !== undefined)) continue;
    route[list] = all.map((h) => {
      const spec = checks.specOf(h);
      if (spec === undefined) return h;
      const bound = checks.bound(spec, routeContext(spec.requirement, route.url, label));
      placed.push(bound);
      return bound;
    }) as never;
  }
  const declared: unknown = route.config?.agentwrit;
  if (declared === undefined || isBound(declared)) return placed;
  const requirement = readRouteConfig(declared, label);
  const check = checks.bound({ requirement, verify: true, name: "config.agentwrit" }, routeContext(requirement, route.url, label));
  placed.push(check);
  const existing: unknown = route.onRequest;
  route.onRequest = [check, ...(existing === undefined ? [] : Array.isArray(existing) ? (existing as unknown[]) : [existing])] as never;
  route.config = { ...route.config, agentwrit: markBound(declared as object) };
  return placed;
}

// eslint-disable-next-line @typescript-eslint/require-await -- Fastify awaits plugins; bad options then fail `ready()`
const plugin: FastifyPluginAsync<AgentWritPluginOptions | Guard> = async (app, opts) => {
  const checks = new Checks(setUpGuard(opts, app.log));
  // Routes already declared (anywhere in the app) when the plugin loads were not seen by onRoute.
  const lateRoutes = app.printRoutes() !== "(empty tree)";

  app.decorateRequest("agentwrit", undefined);
  app.decorateRequest(checks.slot, undefined);
  app.decorate("agentwritGuard", (requirement?: Requirement | CompiledRequirement) =>
    checks.unbound({ requirement: requirement === undefined ? undefined : compileRequirement(requirement), verify: true, name: "agentwritGuard()" }),
  );
  app.decorate("requireScope", (...requirements: Requirement[]) => {
    nonEmpty(requirements, "requireScope");
    return checks.unbound({ requirement: compileRequirement(requirements), verify: false, name: "requireScope()" });
  });
  app.decorate("requireAnyScope", (...requirements: Requirement[]) => {
    nonEmpty(requirements, "requireAnyScope");
    return checks.unbound({ requirement: compileRequirement(anyOf(...requirements)), verify: false, name: "requireAnyScope()" });
  });
  // Bound before it is recorded: a route whose binding throws (a TypeError naming it) is never added.
  app.addHook("onRoute", (route) => {
    notePlaced(registry, route, bindRoute(route, checks));
  });
  const registry = cover(app, checks, lateRoutes);
};

/**
 * `app.register(agentwrit, options)`: decorates `request.agentwrit`, `app.agentwritGuard()`,
 * `app.requireScope()` and `app.requireAnyScope()`, and enforces `config.agentwrit` on every
 * route of the context it is registered in (register it at the root), whatever the order of
 * registration. Refusals are sent as `application/problem+json` with the challenge.
 */
export const agentwrit = fp(plugin, { fastify: "5.x", name: "@agentwrit/guard-fastify" });
export type { AgentWritPluginOptions };
