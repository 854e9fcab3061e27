/**
 * Express 4 and 5 middleware. Every rule lives in `@agentwrit/guard`: this file only reads the
 * header, calls the guard, and sends (or forwards) what it decided.
 */
import {
  splitAdapterOptions,
  asNextError,
  isRequirement,
  anyOf,
  authorizationFromRawHeaders,
  compileRequirement,
  WiringReport,
  GuardError,
  isGuardError,
  markRouteRequirement,
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardOptions,
  type Requirement,
  type RequirementParams,
} from "@agentwrit/guard";
import type { NextFunction, Request, Response } from "express";
import type { ParamsDictionary } from "express-serve-static-core";
import type {} from "./augment.js";
import { RouteContexts } from "./route-context.js";
import { markVerified, verifiedOf } from "./request-slot.js";

/**
 * An Express middleware generic in the route's params, so that `app.get("/orders/:id", mw, handler)`
 * still types `req.params` of `handler` from the path.
 */
export type AgentWritMiddleware = <P = ParamsDictionary>(req: Request<P>, res: Response, next: NextFunction) => void;

/** Adapter options, alone or next to `GuardOptions` (including `logger`). */
export interface AgentWritExpressOptions {
  /** A shared guard (or its options); omit it and pass `GuardOptions` inline, or nothing to read the environment. */
  readonly guard?: Guard | GuardOptions | undefined;
  /**
   * `true`: call `next(err)` with the `GuardError` (it carries `status`, `statusCode`, `headers`,
   * `expose`) for your error handler. `false`: answer with the challenge and a problem+json body.
   * @default false
   */
  readonly passErrors?: boolean | undefined;
}

/** What `agentwritGuard` accepts: a guard, guard options, adapter options, or both mixed. */
export type AgentWritGuardInput = Guard | (GuardOptions & AgentWritExpressOptions);

interface Setup {
  readonly guard: Guard;
  readonly passErrors: boolean;
}
function accept(req: Request, setup: Setup, identity: AgentIdentity): void {
  markVerified(req, { guard: setup.guard, passErrors: setup.passErrors, identity });
}

function setup(input: AgentWritGuardInput | undefined): Setup {
  const { guard, adapter } = splitAdapterOptions<AgentWritExpressOptions>(input, ["passErrors"], process.env);
  if (adapter.passErrors !== undefined && typeof adapter.passErrors !== "boolean") throw new TypeError("passErrors must be a boolean");
  return { guard, passErrors: adapter.passErrors ?? false };
}

function refuse(err: GuardError, res: Response, next: NextFunction, passErrors: boolean): void {
  if (passErrors) {
    next(err);
    return;
  }
  const r = toErrorResponse(err);
  res.status(r.status);
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  res.end(r.body);
}


/**
 * Verifies the agent token and, when a requirement is given, the scope it grants; the agent is
 * then `req.agentwrit`. `{placeholders}` bind to `req.params`, so put templated requirements on
 * the route (`app.get("/orders/:id", agentwritGuard("write:data:order-{id}"), …)`).
 * With no guard or guard options, reads `AGENTWRIT_*` from `process.env` now, and shares one
 * guard with every other zero-config middleware of the same environment.
 * @throws TypeError at construction for a malformed requirement or configuration
 */
export function agentwritGuard(requirement?: Requirement | CompiledRequirement, options?: AgentWritGuardInput): AgentWritMiddleware;
export function agentwritGuard(options: AgentWritGuardInput): AgentWritMiddleware;
export function agentwritGuard(first?: Requirement | CompiledRequirement | AgentWritGuardInput, second?: AgentWritGuardInput): AgentWritMiddleware {
  const { middleware, requirement } = guardMiddleware(first, second);
  return markRouteRequirement(middleware, requirement);
}

/** `agentwritGuard`'s middleware, unmarked, and the requirement it checks (`guarded` wraps it). */
export function guardMiddleware(
  first?: Requirement | CompiledRequirement | AgentWritGuardInput,
  second?: AgentWritGuardInput,
): { readonly middleware: AgentWritMiddleware; readonly requirement: CompiledRequirement | undefined } {
  const firstIsRequirement = first === undefined || isRequirement(first);
  const requirement = firstIsRequirement && first !== undefined ? compileRequirement(first) : undefined;
  const own = setup(firstIsRequirement ? second : first);
  const { guard, passErrors } = own;
  const contexts = new RouteContexts(requirement);
  const wiring = new WiringReport();
  const fail = (e: unknown, res: Response, next: NextFunction, route: string | undefined): void => {
    if (!isGuardError(e)) {
      next(asNextError(e));
      return;
    }
    wiring.report(e, guard.logger !== undefined, route);
    refuse(e, res, next, passErrors);
  };
  const middleware: AgentWritMiddleware = (req, res, next) => {
    const context = contexts.of(req);
    const params = req.params as RequirementParams;
    let identity: AgentIdentity | undefined;
    let authorization: string | undefined;
    try {
      // A request this guard already verified (an app-wide guard, then a route guard) is not asked twice.
      const previous = verifiedOf(req);
      identity = previous?.guard === guard ? previous.identity : undefined;
      if (identity !== undefined) {
        if (requirement !== undefined) guard.authorize(identity, requirement, params, context);
      } else {
        // Every Authorization header (joined, so that several are refused), not only the first.
        authorization = authorizationFromRawHeaders(req.rawHeaders);
        // A cached token is answered synchronously: next() without a promise or a tick.
        identity = guard.verifyCached(authorization, requirement, params, context);
        if (identity !== undefined) accept(req as unknown as Request, own, identity);
      }
    } catch (e) {
      fail(e, res, next, context.route);
      return;
    }
    if (identity !== undefined) {
      next();
      return;
    }
    guard.verify(authorization, requirement, params, context).then(
      (verified: AgentIdentity) => {
        try {
          accept(req as unknown as Request, own, verified);
        } catch (e) {
          // A request that takes no property (see markVerified): the server's error, passed on.
          next(asNextError(e));
          return;
        }
        next();
      },
      (e: unknown) => {
        fail(e, res, next, context.route);
      },
    );
  };
  return { middleware, requirement };
}

function scopeCheck(requirement: CompiledRequirement, name: string): AgentWritMiddleware {
  const contexts = new RouteContexts(requirement);
  const wiring = new WiringReport();
  return markRouteRequirement<AgentWritMiddleware>((req, res, next) => {
    const context = contexts.of(req);
    const verified = verifiedOf(req);
    if (verified === undefined) {
      // No guard ran before this check: the server's wiring mistake, not the client's missing token.
      const where = context.route ?? "a middleware";
      const err = new GuardError("guard_not_mounted", {
        reason: `${name}() on ${where} ran with no agentwritGuard() before it on this request: mount agentwritGuard() (app-wide or on the route) first`,
      });
      wiring.report(err, false, context.route);
      refuse(err, res, next, false);
      return;
    }
    try {
      verified.guard.authorize(verified.identity, requirement, req.params as RequirementParams, context);
    } catch (e) {
      if (!isGuardError(e)) {
        next(asNextError(e));
        return;
      }
      wiring.report(e, verified.guard.logger !== undefined, context.route);
      refuse(e, res, next, verified.passErrors);
      return;
    }
    next();
  }, requirement);
}

function nonEmpty(list: readonly unknown[], name: string): void {
  if (list.length === 0) throw new TypeError(`${name}() needs at least one requirement`);
}

/**
 * Route-level check that the agent verified by an earlier `agentwritGuard()` holds ALL of the
 * requirements (`{placeholders}` bound to `req.params`), answered the way that guard answers
 * (`passErrors`). Without an earlier guard on the request it answers 500 `guard_not_mounted`
 * (a wiring mistake, logged once) and the handler never runs.
 * For a self-contained route check, use `agentwritGuard(requirement, options)` instead.
 * @throws TypeError at construction for a malformed or empty requirement
 */
export function requireScope(...requirements: Requirement[]): AgentWritMiddleware {
  nonEmpty(requirements, "requireScope");
  return scopeCheck(compileRequirement(requirements), "requireScope");
}

/** Like {@link requireScope}, but ANY one of the requirements is enough. */
export function requireAnyScope(...requirements: Requirement[]): AgentWritMiddleware {
  nonEmpty(requirements, "requireAnyScope");
  return scopeCheck(compileRequirement(anyOf(...requirements)), "requireAnyScope");
}
