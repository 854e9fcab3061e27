/**
 * `checkRoutes(app)`: the startup half of `requirement_param_missing`. A Hono middleware does not
 * know the path it is registered on until a request runs it, so a placeholder the route lacks
 * would be found only then (a 500, logged once). Called once after the routes are declared, this
 * reads `app.routes` (full paths: `basePath` and `app.route()` included) and refuses such wiring
 * before the first request.
 */
import { checkRouteTable, routeParamNames } from "@agentwrit/guard";

/**
 * The handler as declared: a sub-app with its own `onError`, mounted with `app.route()`, has its
 * handlers wrapped by Hono, which keeps the declared one as `__COMPOSED_HANDLER`.
 */
function original(handler: unknown): unknown {
  const declared = typeof handler === "function" ? (handler as { __COMPOSED_HANDLER?: unknown }).__COMPOSED_HANDLER : undefined;
  return typeof declared === "function" ? declared : handler;
}

/**
 * Checks every `agentwritGuard(requirement)`, `requireScope` and `requireAnyScope` in the app's
 * routes: each `{placeholder}` must be a parameter of the path it is registered on. Call it once,
 * after declaring the routes (and mounting sub-apps).
 * @returns how many middlewares with placeholders were checked
 * @throws TypeError naming every route and placeholder that would answer 500 `requirement_param_missing`
 */
export function checkRoutes(app: { readonly routes: readonly { readonly method: string; readonly path: string; readonly handler: unknown }[] }): number {
  return checkRouteTable(app.routes.map((r) => ({ label: `${r.method} ${r.path}`, params: routeParamNames(r.path), handler: original(r.handler) })));
}
