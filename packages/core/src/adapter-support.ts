/**
 * Helpers every framework adapter uses, so that no adapter re-implements a rule:
 * resolving a guard from options or the environment, rendering a `GuardError` as a response,
 * and reading the `Authorization` header safely when a client sent several.
 */
import { PROBLEM_CONTENT_TYPE } from "./challenge.js";
import type { GuardError } from "./errors.js";
import { createGuard, type Guard, type VerifyContext } from "./guard.js";
import { consoleLogger, type GuardLogger } from "./log.js";
import type { GuardOptions } from "./options.js";
import { compileRequirement, isRequirement, type CompiledRequirement, type Requirement } from "./requirement.js";

/** The environment variables adapters read when given no options. */
export const GUARD_ENV_VARS = ["AGENTWRIT_BROKER_URL", "AGENTWRIT_PUBLIC_KEY", "AGENTWRIT_AUDIENCE", "AGENTWRIT_ISSUER", "AGENTWRIT_LOG"] as const;

/**
 * Guard options from environment variables. Core never reads the environment itself: a Node
 * adapter passes `process.env`, a Workers app passes its bindings.
 * `AGENTWRIT_AUDIENCE` may list several audiences separated by commas.
 * @throws TypeError when none of the variables is set
 */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): GuardOptions {
  const get = (k: (typeof GUARD_ENV_VARS)[number]): string | undefined => {
    const v = env[k]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const brokerUrl = get("AGENTWRIT_BROKER_URL");
  const publicKey = get("AGENTWRIT_PUBLIC_KEY");
  const audience = get("AGENTWRIT_AUDIENCE");
  const issuer = env.AGENTWRIT_ISSUER; // an empty issuer is meaningful: the broker's default `iss` is ""
  if (brokerUrl === undefined && publicKey === undefined) {
    throw new TypeError(
      `agentwrit: no guard configuration. Pass options, or set AGENTWRIT_BROKER_URL and/or AGENTWRIT_PUBLIC_KEY ` +
        `(optionally AGENTWRIT_AUDIENCE and AGENTWRIT_ISSUER).`,
    );
  }
  const list = audience?.split(",").map((a) => a.trim()).filter((a) => a !== "");
  const level = get("AGENTWRIT_LOG");
  const logger = consoleLogger(level);
  if (level !== undefined && logger === undefined) throw new TypeError("AGENTWRIT_LOG must be debug, info, warn or error");
  return {
    ...(logger === undefined ? {} : { logger }),
    ...(brokerUrl === undefined ? {} : { brokerUrl }),
    ...(publicKey === undefined ? {} : { publicKey: publicKey.replace(/\\n/g, "\n").trim() }),
    ...(list === undefined || list.length === 0 ? {} : { audience: list.length === 1 ? (list[0] ?? "") : list }),
    ...(issuer === undefined ? {} : { issuer }),
  };
}

/** True for a value made by `createGuard`. */
export function isGuard(x: unknown): x is Guard {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as Guard).authenticate === "function" &&
    typeof (x as Guard).authorize === "function" &&
    typeof (x as Guard).verify === "function"
  );
}

/** Guards built from the environment, one per distinct configuration (bounded: configurations are few). */
const fromEnv = new Map<string, Guard>();

/**
 * The guard for a configuration read from the environment: the same environment gives the same
 * guard (one cache, one broker call per request), however many zero-config adapters ask.
 */
export function guardFromEnv(env: Readonly<Record<string, string | undefined>>): Guard {
  const key = JSON.stringify(GUARD_ENV_VARS.map((k) => env[k] ?? null));
  let guard = fromEnv.get(key);
  if (guard === undefined) {
    guard = createGuard(optionsFromEnv(env));
    if (fromEnv.size >= 16) fromEnv.clear();
    fromEnv.set(key, guard);
  }
  return guard;
}

/**
 * The guard an adapter should use: the one given, one built from options, or (with neither)
 * the shared one for the environment the adapter passes.
 */
export function resolveGuard(input: Guard | GuardOptions | undefined, env?: Readonly<Record<string, string | undefined>>): Guard {
  if (isGuard(input)) return input;
  if (input !== undefined) return createGuard(input);
  if (env === undefined) throw new TypeError("agentwrit: no guard configuration; pass a guard or options");
  return guardFromEnv(env);
}

/**
 * Splits what an adapter was given into its guard and its own options. Accepted shapes: nothing
 * (then the guard comes from `env`), a `Guard`, `GuardOptions` inline, or `{ guard }`, each mixed
 * with the adapter's own keys. `ignoredKeys` are dropped (e.g. Fastify's `prefix`).
 * @throws TypeError when both `guard` and inline guard options are given, or on bad configuration
 */
export function splitAdapterOptions<A extends object>(
  input: unknown,
  adapterKeys: readonly (keyof A & string)[],
  env: Readonly<Record<string, string | undefined>> | undefined,
  ignoredKeys: readonly string[] = [],
): { readonly guard: Guard; readonly adapter: Partial<A> } {
  if (input === undefined || isGuard(input)) return { guard: resolveGuard(input, env), adapter: {} };
  if (typeof input !== "object" || input === null) throw new TypeError("agentwrit: options must be a guard or an object");
  const adapter: Record<string, unknown> = {};
  const inline: Record<string, unknown> = {};
  let given: unknown;
  for (const [k, v] of Object.entries(input)) {
    if (k === "guard") given = v;
    else if ((adapterKeys as readonly string[]).includes(k)) adapter[k] = v;
    else if (!ignoredKeys.includes(k)) inline[k] = v;
  }
  const hasInline = Object.keys(inline).length > 0;
  if (given !== undefined && hasInline) throw new TypeError("agentwrit: pass either `guard` or guard options, not both");
  const chosen: unknown = given ?? (hasInline ? inline : undefined);
  if (chosen !== undefined && typeof chosen !== "object") throw new TypeError("agentwrit: `guard` must be a guard or guard options");
  return { guard: resolveGuard(chosen as Guard | GuardOptions | undefined, env), adapter: adapter as Partial<A> };
}

/** A ready-to-send error response. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text of the RFC 9457 problem body. */
  readonly body: string;
}

/** Renders a `GuardError` as status, headers (challenge, Retry-After, content type) and body. */
export function toErrorResponse(err: GuardError): ErrorResponse {
  return {
    status: err.status,
    headers: { ...err.headers, "Content-Type": PROBLEM_CONTENT_TYPE, "Cache-Control": "no-store" },
    body: JSON.stringify(err.problem),
  };
}

/** `name` (13 characters) is `Authorization` in any case; the usual spellings without lowercasing. */
function isAuthorization(name: string): boolean {
  return name === "authorization" || name === "Authorization" || ((name.charCodeAt(0) | 0x20) === 0x61 && name.toLowerCase() === "authorization");
}

/**
 * The `Authorization` value from Node's `rawHeaders` (name, value, name, value…). Node keeps
 * only the first of several `Authorization` headers in `req.headers`; this returns them joined,
 * which the guard refuses as malformed, so an ambiguous request is never authenticated.
 */
export function authorizationFromRawHeaders(rawHeaders: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name !== undefined && name.length === 13 && isAuthorization(name)) {
      const value = rawHeaders[i + 1] ?? "";
      found = found === undefined ? value : found + ", " + value;
    }
  }
  return found;
}

/**
 * The parameter names a route path declares, in the syntax Express, Fastify and Hono share
 * (`/orders/:id`, `/:id?`, `/:id{[0-9]+}`, `/:a-:b`) and Express 5's named wildcards (`*rest`).
 */
export function routeParamNames(path: string): string[] {
  const names: string[] = [];
  for (const m of path.matchAll(/[:*]([A-Za-z_$][A-Za-z0-9_$]*)/g)) {
    const name = m[1] ?? "";
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * For adapters that know a route's path when it is declared: the requirement's placeholders
 * that the path does not declare. A non-empty answer is a wiring mistake to refuse at startup.
 */
export function placeholdersMissingFromRoute(requirement: Requirement | CompiledRequirement, path: string): string[] {
  const declared = routeParamNames(path);
  return compileRequirement(requirement).params.filter((p) => !declared.includes(p));
}

/**
 * The context a check on a known route gives the guard: the route's label, and where
 * `{placeholder}` values come from. When the route's path declares every placeholder, a value
 * absent at run time is an optional parameter the client left out (`"input"`: 400
 * `invalid_parameter`); otherwise a missing one is the server's mistake (`"route"`: 500
 * `requirement_param_missing`). Frozen: adapters share it across requests.
 */
export function routeVerifyContext(requirement: Requirement | CompiledRequirement | undefined, route: string, path: string): VerifyContext {
  const declaresAll = requirement === undefined || placeholdersMissingFromRoute(requirement, path).length === 0;
  return Object.freeze({ paramSource: declaresAll ? "input" : "route", route });
}

/**
 * The arguments of an adapter's `guarded(requirement?, options?, handler)`: the handler last, and
 * before it what the adapter's `agentwritGuard` takes.
 * @throws TypeError when the last argument is not a function or more than three are given
 */
export function guardedArgs(args: readonly unknown[]): { readonly handler: (...a: never[]) => unknown; readonly first: unknown; readonly second: unknown } {
  const handler = args.at(-1);
  if (typeof handler !== "function" || args.length > 3) {
    throw new TypeError("agentwrit: guarded(requirement?, options?, handler): the last argument must be the route's handler");
  }
  const first = args.length > 1 ? args[0] : undefined;
  const second = args.length > 2 ? args[1] : undefined;
  if (first !== undefined && second !== undefined && !isRequirement(first)) {
    // `guarded(guard, middleware, handler)` from plain JavaScript: the middle argument would be ignored.
    throw new TypeError("agentwrit: guarded(options, x, handler): options come after a requirement, and nothing comes between them and the handler");
  }
  return { handler: handler as (...a: never[]) => unknown, first, second };
}

/**
 * What an adapter hands a framework's `next(err)` / `done(err)` for something thrown. Express and
 * Fastify's callback hooks take a falsy error (`undefined`, `null`, `0`, `""`, `false`) for none,
 * and Express reads the strings `"route"` and `"router"` as "skip to the next route / out of this
 * router": any of them would pass the request on. Anything that is not an object becomes an
 * `Error` naming only its type (never its value, which could be any text).
 */
export function asNextError(e: unknown): unknown {
  return (typeof e === "object" && e !== null) || typeof e === "function" ? e : new Error(`agentwrit: a value that is not an error was thrown (${e === null ? "null" : typeof e})`);
}

const REQUIREMENT_TAG = Symbol.for("@agentwrit/guard.routeRequirement");

/**
 * Marks an adapter's middleware with the requirement it binds to route parameters, so that
 * {@link checkRouteTable} can find it in a framework's route table at startup.
 */
export function markRouteRequirement<F extends object>(middleware: F, requirement: CompiledRequirement | undefined): F {
  if (requirement !== undefined && requirement.params.length > 0) Object.defineProperty(middleware, REQUIREMENT_TAG, { value: requirement });
  return middleware;
}

/** One handler of a framework's route table, as an adapter's startup check reads it. */
export interface RouteTableEntry {
  /** `GET /customers/:customerId`, for the error message. */
  readonly label: string;
  /** The parameter names the framework will put in the request's params for this handler. */
  readonly params: readonly string[];
  readonly handler: unknown;
}

/**
 * The startup check of a route table: every marked middleware's placeholders must be among the
 * parameters of the route it is registered on.
 * @throws TypeError naming every route and placeholder that would answer 500 `requirement_param_missing`
 */
export function checkRouteTable(entries: Iterable<RouteTableEntry>): number {
  const problems: string[] = [];
  let checked = 0;
  for (const entry of entries) {
    if (typeof entry.handler !== "function") continue;
    const requirement = (entry.handler as unknown as Record<symbol, CompiledRequirement | undefined>)[REQUIREMENT_TAG];
    if (requirement === undefined) continue;
    checked++;
    const missing = requirement.params.filter((p) => !entry.params.includes(p));
    if (missing.length > 0) {
      const declared = entry.params.length === 0 ? "no parameters" : `only ${entry.params.map((p) => `:${p}`).join(", ")}`;
      problems.push(`${entry.label}: ${missing.map((p) => `{${p}}`).join(", ")} (the route declares ${declared})`);
    }
  }
  if (problems.length > 0) {
    throw new TypeError(`agentwrit: requirement placeholders that no route parameter fills (each would answer 500 requirement_param_missing):\n  ${problems.join("\n  ")}`);
  }
  return checked;
}

/**
 * Reports a wiring mistake (a 500: the server's fault, never the client's) once per middleware
 * or hook: not when the guard already logs its own refusals (`guardLogs`), except
 * `guard_not_mounted`, which an adapter raises without the guard. Lines go to `log` (a
 * framework's logger) or, without one, to `console.error`.
 */
export class WiringReport {
  #reported = false;
  readonly #log: GuardLogger | undefined;

  constructor(log?: GuardLogger) {
    this.#log = log;
  }

  /** `route`: the route's label, or a function giving it (called only when a line is written). */
  report(err: GuardError, guardLogs: boolean, route: string | undefined | (() => string | undefined)): void {
    if (err.status !== 500 || this.#reported || (guardLogs && err.code !== "guard_not_mounted")) return;
    this.#reported = true;
    const line = { code: err.code, route: typeof route === "function" ? route() : route, reason: err.reason };
    if (this.#log === undefined) consoleLogger("error")?.error(line, err.reason);
    else this.#log.error(line, `agentwrit: ${err.reason}`);
  }
}
