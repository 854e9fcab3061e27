/**
 * `guarded(…, handler)`: the guard as part of a route's handler instead of a middleware before it.
 *
 * Express runs every handler of a route through its router's layer dispatch; this saves the
 * guard's layer (−4 to −5 µs of CPU per request side by side on Node here, within the noise of
 * Express in a full bench run: bench/README.md, "Hot, Express"). The check is `agentwritGuard`'s, with the
 * same arguments and answers, and the handler is called as soon as it passes (synchronously for a
 * cached token), with no layer between them.
 */
import { asNextError, guardedArgs, markRouteRequirement, type CompiledRequirement, type Requirement } from "@agentwrit/guard";
import type { NextFunction, Request, Response } from "express";
import type { ParamsDictionary } from "express-serve-static-core";
import type { AgentWritRequest } from "./augment.js";
import { guardMiddleware, type AgentWritGuardInput, type AgentWritMiddleware } from "./middleware.js";

/** The handler `guarded` wraps: an Express handler whose `req.agentwrit` is the verified agent. */
export type GuardedRequestHandler<P = ParamsDictionary> = (req: AgentWritRequest<P>, res: Response, next: NextFunction) => unknown;

type Handle = (req: Request, res: Response, next: NextFunction) => unknown;

/**
 * A route handler that verifies the agent token (and the requirement, if given) before calling
 * `handler` with `req.agentwrit` set: `app.get("/orders/:id", guarded("read:data:order-{id}", (req, res) => …))`.
 * Takes `agentwritGuard`'s arguments before the handler and answers exactly as it does (the same
 * refusals, `passErrors`, the same guard); a request an earlier `agentwritGuard` of the same
 * guard verified is only checked against the requirement. What the handler throws, or the promise
 * it returns rejects with, goes to `next(err)` (Express 4 included; as on Express 5, a `Promise`, not any thenable).
 * @throws TypeError at construction for a malformed requirement or configuration, or no handler
 */
export function guarded<P = ParamsDictionary>(handler: GuardedRequestHandler<P>): AgentWritMiddleware;
export function guarded<P = ParamsDictionary>(
  requirementOrInput: Requirement | CompiledRequirement | AgentWritGuardInput | undefined,
  handler: GuardedRequestHandler<P>,
): AgentWritMiddleware;
export function guarded<P = ParamsDictionary>(
  requirement: Requirement | CompiledRequirement | undefined,
  input: AgentWritGuardInput | undefined,
  handler: GuardedRequestHandler<P>,
): AgentWritMiddleware;
export function guarded(...args: unknown[]): AgentWritMiddleware {
  const { handler, first, second } = guardedArgs(args);
  const inner = handler as Handle;
  const { middleware, requirement } = guardMiddleware(first as Requirement | CompiledRequirement | AgentWritGuardInput | undefined, second as AgentWritGuardInput | undefined);
  const route: AgentWritMiddleware = (req, res, next) => {
    middleware(req, res, (err?: unknown) => {
      if (err !== undefined) {
        next(err);
        return;
      }
      try {
        const result = inner(req as unknown as Request, res, next);
        // As Express 5 does for a handler: a promise's rejection goes to next(err) (on Express 4 too).
        if (result instanceof Promise) {
          result.then(undefined, (e: unknown) => {
            next(asNextError(e));
          });
        }
      } catch (e) {
        next(asNextError(e));
      }
    });
  };
  return markRouteRequirement(route, requirement);
}
