/**
 * What a middleware tells the guard about the route it runs on. Hono computes a route's path per
 * call (an array each time), so the usual case needs nothing from it: when every placeholder has
 * a value, where values come from does not matter. Only a placeholder absent from the params
 * looks at the route, to tell an optional parameter the client left out (400
 * `invalid_parameter`) from one the route never declares (500 `requirement_param_missing`).
 */
import { routeVerifyContext, type CompiledRequirement, type VerifyContext } from "@agentwrit/guard";
import type { Context } from "hono";

const ROUTE_PARAMS: VerifyContext = Object.freeze({ paramSource: "route" });

/** `GET /orders/:id`: the method and the path the running middleware was registered with. */
export function routeLabel(c: Context): string {
  // `c.req.routePath` exists throughout Hono 4 (its replacement, `hono/route`, only in later 4.x).
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  return `${c.req.method} ${c.req.routePath}`;
}

function absentContext(c: Context, requirement: CompiledRequirement): VerifyContext {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- see routeLabel
  return routeVerifyContext(requirement, routeLabel(c), c.req.routePath);
}

/** The context for one check: shared and frozen, unless a placeholder has no value. */
export function paramContext(c: Context, requirement: CompiledRequirement | undefined, params: Readonly<Record<string, string>> | undefined): VerifyContext {
  if (requirement === undefined || params === undefined) return ROUTE_PARAMS;
  for (const name of requirement.params) if (!Object.hasOwn(params, name)) return absentContext(c, requirement);
  return ROUTE_PARAMS;
}

