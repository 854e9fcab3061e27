import type { AgentIdentity } from "@agentwrit/guard";
import type { ParamsDictionary, Query, Request } from "express-serve-static-core";

/** A type-only brand (never present at run time) that marks a request type as verified by a guard. */
declare const verifiedBrand: unique symbol;

/**
 * Carried in the `LocalsObj` type parameter of a request type to say that a guard verified it;
 * {@link AgentWritRequest} adds it. It is optional and keyed by a symbol no one can name, so it
 * changes nothing about `res.locals` but its type.
 */
export interface AgentWritVerified {
  readonly [verifiedBrand]?: true;
}

declare module "express-serve-static-core" {
  // The type parameters repeat Express's own (4 and 5 alike: merged declarations must) so that the
  // agent's type can follow `LocalsObj`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars -- Express's names and constraint
  interface Request<P, ResBody, ReqBody, ReqQuery, LocalsObj extends Record<string, any>> {
    /**
     * The agent an AgentWrit guard verified for this request; `undefined` on a request no guard
     * verified. In a handler typed {@link AgentWritRequest} it is the identity itself.
     * (`req.auth` is left alone: other libraries claim it with other types.)
     */
    agentwrit: typeof verifiedBrand extends keyof LocalsObj ? AgentIdentity : AgentIdentity | undefined;
  }
}

/**
 * The request of a handler that runs behind `agentwritGuard()` or `requireScope()`: `req.agentwrit`
 * is an `AgentIdentity`, not `AgentIdentity | undefined`. Use it as the handler's parameter type,
 * with the route's params: `(req: AgentWritRequest<{ id: string }>, res) => …`.
 *
 * Declaring it is a promise that a guard runs earlier on the route (Express cannot check the
 * order of handlers in types); a `requireScope()` without a guard before it answers 500
 * `guard_not_mounted` at run time, so the handler is never reached.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- Express's own defaults, so that only `agentwrit` differs from `Request<P>` */
export type AgentWritRequest<
  P = ParamsDictionary,
  ResBody = any,
  ReqBody = any,
  ReqQuery = Query,
  LocalsObj extends Record<string, any> = Record<string, any>,
> = Request<P, ResBody, ReqBody, ReqQuery, LocalsObj & AgentWritVerified>;
/* eslint-enable @typescript-eslint/no-explicit-any */
