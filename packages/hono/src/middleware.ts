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
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type Requirement,
} from "@agentwrit/guard";
import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { guardSource, type AgentWritHonoOptions } from "./guard-source.js";

/** Context variables set by the middleware: `c.get("agentwrit")`, `c.var.agentwrit`. */
export type AgentWritVariables = { agentwrit: AgentIdentity };
/** The `Env` of handlers behind the middleware. */
export type AgentWritEnv = { Variables: AgentWritVariables };

/**
 * What verified each request, so `requireScope` asks the same guard and trusts only the identity
 * it returned (not whatever the context variable holds later).
 */
const verifiedBy = new WeakMap<Request, { readonly guard: Guard; readonly identity: AgentIdentity }>();

/**
 * The refusal as an `HTTPException`: `res` is the ready challenge response (status,
 * `WWW-Authenticate` or `Retry-After`, problem+json body); `cause` is the `GuardError`.
 */
function refusal(err: GuardError): HTTPException {
  const r = toErrorResponse(err);
  const res = new Response(r.body, { status: r.status, headers: r.headers });
  return new HTTPException(r.status as ContentfulStatusCode, { res, cause: err, message: err.message });
}

function rethrow(e: unknown): never {
  throw isGuardError(e) ? refusal(e) : e;
}


const paramsOf = (c: Context): Record<string, string> => c.req.param();

/**
 * Verifies the agent token and, when a requirement is given, the scope it grants; the agent is
 * then `c.get("agentwrit")`. `{placeholders}` bind to `c.req.param()`.
 * Options may be a function of the context (`(c) => ({ brokerUrl: c.env.AGENTWRIT_BROKER_URL })`).
 * With no options, reads `AGENTWRIT_*` from `process.env` now (or, without `process`, from `c.env`).
 * @throws TypeError at construction for a malformed requirement or configuration
 * @throws HTTPException per request, with `res` the challenge and `cause` the `GuardError`
 */
export function agentwritGuard(requirement?: Requirement | CompiledRequirement, options?: AgentWritHonoOptions): MiddlewareHandler<AgentWritEnv>;
export function agentwritGuard(options: AgentWritHonoOptions): MiddlewareHandler<AgentWritEnv>;
export function agentwritGuard(
  first?: Requirement | CompiledRequirement | AgentWritHonoOptions,
  second?: AgentWritHonoOptions,
): MiddlewareHandler<AgentWritEnv> {
  const firstIsRequirement = first === undefined || isRequirement(first);
  const requirement = firstIsRequirement && first !== undefined ? compileRequirement(first) : undefined;
  const source = guardSource(firstIsRequirement ? second : (first as AgentWritHonoOptions));
  return createMiddleware<AgentWritEnv>(async (c, next) => {
    const guard = source(c);
    const previous = verifiedBy.get(c.req.raw);
    const known = previous?.guard === guard ? previous.identity : undefined;
    try {
      if (known === undefined) {
        // c.req.param() builds an object: only when a requirement can use it.
        const identity = await guard.verify(c.req.header("authorization"), requirement, requirement === undefined ? undefined : paramsOf(c));
        c.set("agentwrit", identity);
        verifiedBy.set(c.req.raw, { guard, identity });
      } else if (requirement !== undefined) {
        guard.authorize(known, requirement, paramsOf(c));
      }
    } catch (e) {
      rethrow(e);
    }
    await next();
  });
}

function scopeCheck(requirement: CompiledRequirement): MiddlewareHandler<AgentWritEnv> {
  return createMiddleware<AgentWritEnv>(async (c, next) => {
    const verified = verifiedBy.get(c.req.raw);
    // No guard ran before this check: fail closed, as if no token had been sent.
    if (verified === undefined) throw refusal(new GuardError("missing_token"));
    try {
      verified.guard.authorize(verified.identity, requirement, paramsOf(c));
    } catch (e) {
      rethrow(e);
    }
    await next();
  });
}

function nonEmpty(list: readonly unknown[], name: string): void {
  if (list.length === 0) throw new TypeError(`${name}() needs at least one requirement`);
}

/**
 * Checks that the agent verified by an earlier `agentwritGuard()` holds ALL of the requirements
 * (`{placeholders}` bound to `c.req.param()`); 401 when no guard ran before it.
 * @throws TypeError at construction for a malformed or empty requirement
 */
export function requireScope(...requirements: Requirement[]): MiddlewareHandler<AgentWritEnv> {
  nonEmpty(requirements, "requireScope");
  return scopeCheck(compileRequirement(requirements));
}

/** Like {@link requireScope}, but ANY one of the requirements is enough. */
export function requireAnyScope(...requirements: Requirement[]): MiddlewareHandler<AgentWritEnv> {
  nonEmpty(requirements, "requireAnyScope");
  return scopeCheck(compileRequirement(anyOf(...requirements)));
}
