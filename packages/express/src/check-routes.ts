/**
 * `checkRoutes(app)`: the startup half of `requirement_param_missing`. Express does not tell a
 * middleware the path it is mounted on, so each request would find a placeholder the route lacks
 * only when it runs (a 500, logged once). Called once after the routes are declared, this reads
 * Express's route table (4 and 5) and refuses such wiring before the first request.
 */
import { checkRouteTable, routeParamNames, type RouteTableEntry } from "@agentwrit/guard";

interface Layer {
  readonly route?: { readonly path?: unknown; readonly methods?: Record<string, boolean>; readonly stack?: readonly Layer[] };
  readonly handle?: unknown;
  /** Express 5 (router 2): the path the layer was mounted with. */
  readonly rawPath?: unknown;
  /** Express 4: the mount path's parameters. */
  readonly keys?: readonly { readonly name: unknown }[];
}

interface RouterLike {
  readonly stack?: readonly Layer[];
  readonly mergeParams?: boolean;
}

/** The parameter names a layer's mount path declares. */
function mountParams(layer: Layer): string[] {
  if (typeof layer.rawPath === "string") return routeParamNames(layer.rawPath);
  if (Array.isArray(layer.rawPath)) return layer.rawPath.flatMap((p) => (typeof p === "string" ? routeParamNames(p) : []));
  return (layer.keys ?? []).map((k) => String(k.name));
}

function mountLabel(layer: Layer): string {
  return typeof layer.rawPath === "string" ? layer.rawPath : "(mounted)";
}

function* entries(stack: readonly Layer[], inherited: readonly string[], prefix: string): Generator<RouteTableEntry> {
  for (const layer of stack) {
    const route = layer.route;
    if (route !== undefined) {
      const paths = Array.isArray(route.path) ? (route.path as unknown[]) : [route.path];
      const methods = Object.keys(route.methods ?? {}).map((m) => m.toUpperCase()).join(",") || "ALL";
      for (const path of paths) {
        // A RegExp path names its parameters in ways this check does not read: skipped.
        if (typeof path !== "string") continue;
        const params = [...inherited, ...routeParamNames(path)];
        for (const h of route.stack ?? []) yield { label: `${methods} ${prefix}${path}`, params, handler: h.handle };
      }
      continue;
    }
    const own = mountParams(layer);
    const router = typeof layer.handle === "function" ? (layer.handle as RouterLike) : undefined;
    if (router !== undefined && Array.isArray(router.stack)) {
      // A nested router sees its mount path's parameters only with mergeParams.
      const label = mountLabel(layer);
      yield* entries(router.stack, router.mergeParams === true ? [...inherited, ...own] : [], prefix + (label === "/" ? "" : label));
      continue;
    }
    yield { label: `USE ${prefix}${mountLabel(layer)}`, params: [...inherited, ...own], handler: layer.handle };
  }
}

/**
 * Checks every `agentwritGuard(requirement)`, `requireScope` and `requireAnyScope` in the app's
 * route table: each `{placeholder}` must be a parameter of the route it is registered on (or, in a
 * router created with `mergeParams: true`, of its mount path). Call it once, after declaring the
 * routes and before `listen`. Routes declared with a RegExp path are skipped.
 * @returns how many middlewares with placeholders were checked
 * @throws TypeError naming every route and placeholder that would answer 500 `requirement_param_missing`
 */
export function checkRoutes(app: object): number {
  const a = app as { readonly router?: RouterLike; readonly _router?: RouterLike; readonly lazyrouter?: unknown };
  // Express 5 exposes `app.router`; Express 4 keeps it as `app._router` (created by the first
  // route) and throws on `app.router`.
  const router = typeof a.lazyrouter === "function" ? a._router : a.router;
  return checkRouteTable(entries(router?.stack ?? [], [], ""));
}
