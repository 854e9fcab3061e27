/**
 * `guarded(…, handler)`: the guard as part of a route's handler instead of a middleware before it.
 *
 * Hono answers a route that has a single handler without composing a middleware chain; one
 * middleware more (any middleware: one that does nothing costs the same) makes it build the chain,
 * ~3 µs of CPU per request on Node here (bench/README.md, "Hot, Hono"). Wrapped this way, a cached
 * token is checked and the handler called in the same synchronous call, so a guarded route costs
 * about what an unguarded one does. The check is `agentwritGuard`'s, with the same arguments and
 * the same answers.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- Hono's own defaults for a handler's type parameters */
import { guardedArgs, markRouteRequirement, type CompiledRequirement, type Requirement } from "@agentwrit/guard";
import type { Context, Env, Handler, Input, Next } from "hono";
import type { BlankInput, HandlerResponse } from "hono/types";
import type { AgentWritHonoOptions } from "./guard-source.js";
import { verification, type AgentWritEnv } from "./middleware.js";

/** The handler `guarded` wraps: a Hono handler whose context carries the verified agent. */
export type GuardedHandler<P extends string = any, E extends Env = any, I extends Input = BlankInput, R extends HandlerResponse<any> = any> = (
  c: Context<E & AgentWritEnv, P, I>,
  next: Next,
) => R;

/**
 * A route handler that verifies the agent token (and the requirement, if given) before calling
 * `handler`, with `c.var.agentwrit` set: `app.get("/orders/:id", guarded("read:data:order-{id}", (c) => …))`.
 * Takes `agentwritGuard`'s arguments before the handler and answers exactly as it does (the same
 * refusals thrown as `HTTPException`, the same guard cache, a request an earlier `agentwritGuard`
 * of the same guard verified is only checked against the requirement), but runs no middleware:
 * a cached token costs no promise and no middleware chain.
 * @throws TypeError at construction for a malformed requirement or configuration, or no handler
 */
export function guarded<P extends string = any, E extends Env = any, I extends Input = BlankInput, R extends HandlerResponse<any> = any>(
  handler: GuardedHandler<P, E, I, R>,
): Handler<E, P, I, R | Promise<Exclude<Awaited<R>, void>>>;
export function guarded<P extends string = any, E extends Env = any, I extends Input = BlankInput, R extends HandlerResponse<any> = any>(
  requirementOrOptions: Requirement | CompiledRequirement | AgentWritHonoOptions | undefined,
  handler: GuardedHandler<P, E, I, R>,
): Handler<E, P, I, R | Promise<Exclude<Awaited<R>, void>>>;
export function guarded<P extends string = any, E extends Env = any, I extends Input = BlankInput, R extends HandlerResponse<any> = any>(
  requirement: Requirement | CompiledRequirement | undefined,
  options: AgentWritHonoOptions | undefined,
  handler: GuardedHandler<P, E, I, R>,
): Handler<E, P, I, R | Promise<Exclude<Awaited<R>, void>>>;
export function guarded(...args: unknown[]): Handler {
  const { handler, first, second } = guardedArgs(args);
  const inner = handler as (c: Context, next: Next) => unknown;
  const { requirement, check } = verification(first as Requirement | CompiledRequirement | AgentWritHonoOptions | undefined, second as AgentWritHonoOptions | undefined);
  const route = (c: Context, next: Next): unknown => {
    const pending = check(c);
    return pending === undefined ? inner(c, next) : pending.then(() => inner(c, next));
  };
  return markRouteRequirement(route as Handler, requirement);
}
