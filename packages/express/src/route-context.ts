/**
 * What a middleware tells the guard about the route it runs on: a label (`GET /orders/:id`) for
 * reasons, logs and events, and where `{placeholder}` values come from. Worked out once per
 * Express route (its `Route` object), never per request.
 */
import { routeVerifyContext, type CompiledRequirement, type VerifyContext } from "@agentwrit/guard";

/**
 * Middleware mounted with `app.use()` / `router.use()` knows no route pattern: a placeholder
 * absent from `req.params` there is a wiring mistake (500 `requirement_param_missing`).
 */
const MOUNTED: VerifyContext = Object.freeze({ paramSource: "route" });

function build(method: string, path: unknown, requirement: CompiledRequirement | undefined): VerifyContext {
  return typeof path === "string" ? routeVerifyContext(requirement, `${method} ${path}`, path) : MOUNTED;
}

/** One per middleware: the context of the last route seen, then a lookup by route. */
export class RouteContexts {
  readonly #requirement: CompiledRequirement | undefined;
  readonly #byRoute = new WeakMap<object, VerifyContext>();
  #lastRoute: object | undefined;
  #lastContext: VerifyContext = MOUNTED;

  constructor(requirement: CompiledRequirement | undefined) {
    this.#requirement = requirement;
  }

  /** `req`: an Express request (`route` is the matched `Route`, absent in `app.use()` middleware). */
  of(req: { readonly method: string; readonly route?: unknown }): VerifyContext {
    const route = req.route as { readonly path?: unknown } | undefined;
    if (route === undefined) return MOUNTED;
    if (route === this.#lastRoute) return this.#lastContext;
    let context = this.#byRoute.get(route);
    if (context === undefined) {
      context = build(req.method, route.path, this.#requirement);
      this.#byRoute.set(route, context);
    }
    this.#lastRoute = route;
    this.#lastContext = context;
    return context;
  }
}
