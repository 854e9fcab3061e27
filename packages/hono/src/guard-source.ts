/**
 * Where a Hono middleware gets its guard: given once, built once from options or the
 * environment, or (for options that are functions of the context) built per configuration
 * and cached module-wide, so every middleware with the same configuration shares one guard,
 * one verified-token cache and one broker client.
 */
import { guardFromEnv, isGuard, resolveGuard, type Guard, type GuardOptions } from "@agentwrit/guard";
import type { Context } from "hono";

/** A guard, guard options, or a function of the request context returning either. */
export type AgentWritHonoOptions = Guard | GuardOptions | ((c: Context) => Guard | GuardOptions);

const MAX_GUARDS = 64;
const guards = new Map<string, Guard>();
const ids = new WeakMap<object, number>();
let nextId = 0;

function identity(v: object): string {
  let id = ids.get(v);
  if (id === undefined) ids.set(v, (id = ++nextId));
  return `\u0000ref${String(id)}`;
}

/**
 * Options as a cache key: plain values by content; functions (`fetch`, `onDecision`…), the
 * `logger` and objects that are not plain data (a `KeyObject`) by identity, so that two loggers
 * never share a guard and a logger's own (changing) fields are never read.
 */
function keyOf(options: GuardOptions): string {
  return JSON.stringify(options, (k, v: unknown) => {
    if (typeof v === "function" || (k === "logger" && typeof v === "object" && v !== null)) return identity(v);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const proto: unknown = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null ? v : identity(v);
  });
}

function cached(options: Guard | GuardOptions): Guard {
  if (isGuard(options)) return options;
  const key = keyOf(options);
  let guard = guards.get(key);
  if (guard === undefined) {
    guard = resolveGuard(options);
    if (guards.size >= MAX_GUARDS) guards.delete(guards.keys().next().value ?? "");
    guards.set(key, guard);
  }
  return guard;
}

/**
 * What an options function returned, refused when it is a promise (an async function, or a
 * middleware passed where the options go): a wiring mistake, thrown as a `TypeError` (a 500 with a
 * log line), and the promise's own rejection is consumed so that it cannot crash the process.
 */
function synchronous(returned: Guard | GuardOptions): Guard | GuardOptions {
  const then: unknown = (returned as { then?: unknown } | null)?.then;
  if (typeof then !== "function") return returned;
  Promise.resolve(returned).catch(() => undefined);
  throw new TypeError("agentwrit: the options function returned a promise; it must return a Guard or GuardOptions synchronously");
}

/** `process.env` where a `process` global exists (Node, Bun, Deno, Workers with nodejs_compat), else `undefined`. */
function processEnv(): Readonly<Record<string, string | undefined>> | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
}

/**
 * Resolves options at construction: a guard or options now (a `TypeError` for bad ones); with
 * none, `AGENTWRIT_*` from `process.env` now, or, where there is no `process`, from the
 * bindings `c.env` on each request. Either way the guard for an environment is the core's
 * shared one for that configuration (`guardFromEnv`), including `AGENTWRIT_LOG`'s logger.
 */
export function guardSource(options: AgentWritHonoOptions | undefined): (c: Context) => Guard {
  if (typeof options === "function") return (c) => cached(synchronous(options(c)));
  if (options !== undefined) {
    const guard = resolveGuard(options);
    return () => guard;
  }
  const env = processEnv();
  if (env === undefined) return (c) => guardFromEnv((c.env ?? {}) as Record<string, string | undefined>);
  const guard = resolveGuard(undefined, env);
  return () => guard;
}
