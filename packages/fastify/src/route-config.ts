/**
 * Reading a route's `config.agentwrit` and binding checks to a route's path: every mistake is a
 * `TypeError` naming the route (`GET /customers/:id`), raised when the route is declared.
 */
import { compileRequirement, placeholdersMissingFromRoute, type CompiledRequirement, type VerifyContext } from "@agentwrit/guard";
import type { AgentWritRouteConfig } from "./augment.js";

const KNOWN_KEYS: readonly (keyof AgentWritRouteConfig)[] = ["scope"];

/** `GET /orders/:id` (`GET,POST /x` for a route with several methods). */
export function routeLabel(method: string | readonly string[], url: string): string {
  return `${typeof method === "string" ? method : method.join(",")} ${url}`;
}

/**
 * What a route's checks tell the guard: its label, and that every placeholder is one of its
 * parameters (checked here), so a value absent at run time is an optional parameter the client
 * left out (400 `invalid_parameter`).
 * @throws TypeError naming the route and the placeholder when the path does not declare it
 */
export function routeContext(requirement: CompiledRequirement | undefined, url: string, label: string): VerifyContext {
  const missing = requirement === undefined ? [] : placeholdersMissingFromRoute(requirement, url);
  if (missing.length > 0) {
    const names = missing.map((p) => `{${p}}`).join(", ");
    throw new TypeError(`agentwrit: ${label}: the requirement's ${names} ${missing.length === 1 ? "is not a parameter" : "are not parameters"} of the route: rename the placeholder or the route parameter`);
  }
  return Object.freeze({ paramSource: "input", route: label });
}

/**
 * The requirement a route's `config.agentwrit` declares (`undefined`: authenticate only).
 * @throws TypeError naming the route: not an object, an unknown key (`scopes`), `scope: undefined`,
 *   or a malformed or empty requirement
 */
export function readRouteConfig(declared: unknown, label: string): CompiledRequirement | undefined {
  if (typeof declared !== "object" || declared === null || Array.isArray(declared)) {
    throw new TypeError(`agentwrit: ${label}: config.agentwrit must be an object ({ scope } or {})`);
  }
  const unknown = Object.keys(declared).filter((k) => !(KNOWN_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    const hint = unknown.some((k) => k.toLowerCase().startsWith("scope")) ? ' (did you mean "scope"?)' : "";
    throw new TypeError(`agentwrit: ${label}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(", ")} in config.agentwrit${hint}; the only key is "scope"`);
  }
  if (!("scope" in declared)) return undefined;
  const { scope } = declared as { scope?: unknown };
  if (scope === undefined) {
    throw new TypeError(`agentwrit: ${label}: config.agentwrit.scope is undefined: give a requirement, or omit the key to authenticate only`);
  }
  try {
    return compileRequirement(scope as AgentWritRouteConfig["scope"] & object);
  } catch (e) {
    throw new TypeError(`agentwrit: ${label}: config.agentwrit.scope: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * The `config.agentwrit` objects an AgentWrit plugin has bound a check to (it puts a copy in the
 * route's config). A route whose `config.agentwrit` is not one of them was declared where no
 * plugin's `onRoute` hook saw it.
 */
const bound = new WeakSet<object>();

/** The copy that marks a route's `config.agentwrit` as checked; same fields, frozen. */
export function markBound(declared: object): object {
  const copy = Object.freeze({ ...declared });
  bound.add(copy);
  return copy;
}

export function isBound(declared: unknown): boolean {
  return typeof declared === "object" && declared !== null && bound.has(declared);
}
