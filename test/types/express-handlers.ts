/**
 * Express handler typing, compiled twice by the test package's typecheck: against Express 5's
 * types (tsconfig.json) and Express 4's (types/tsconfig.express4.json, which maps `express` and
 * `express-serve-static-core` to the 4.x declarations). Under `strict` and
 * `exactOptionalPropertyTypes`. Nothing here runs: a regression is a compile error.
 */
import type { AgentIdentity, Guard } from "@agentwrit/guard";
import {
  agentwritGuard,
  requireAnyScope,
  requireScope,
  type AgentWritExpressOptions,
  type AgentWritGuardInput,
  type AgentWritRequest,
} from "@agentwrit/guard-express";
import express, { type NextFunction, type Request, type Response } from "express";
import { expectTypeOf } from "vitest";

declare const guard: Guard;
declare const maybe: boolean | undefined;
declare const fromEnv: string | undefined;

export function expressHandlers(): void {
  const app = express();
  app.use(agentwritGuard());

  // The narrowed request is a handler's parameter type, with the route's params.
  app.get("/customers/:id", requireScope("read:data:customer-{id}"), (req: AgentWritRequest<{ id: string }>, res: Response) => {
    const agent: AgentIdentity = req.agentwrit;
    const id: string = req.params.id;
    res.json({ id, agent: agent.agentId });
  });
  // …with `res` left to inference, after several middlewares, declared apart, and on a Router.
  app.post("/orders/:id", express.json(), requireAnyScope("write:data:order-{id}"), (req: AgentWritRequest<{ id: string }>, res) => {
    res.json({ id: req.params.id, by: req.agentwrit.agentId, body: req.body as unknown });
  });
  const confirm = (req: AgentWritRequest<{ id: string }>, res: Response, next: NextFunction): void => {
    if (req.agentwrit.scope.length === 0) next();
    else res.end();
  };
  app.put("/orders/:id", agentwritGuard("write:data:order-{id}", guard), confirm);
  const router = express.Router();
  router.get("/reports/:day", requireScope("read:reports:{day}"), (req: AgentWritRequest<{ day: string }>, res: Response) => {
    res.send(`${req.params.day} ${req.agentwrit.agentId}`);
  });
  app.use(router);

  // Unguarded, the plain request says the agent may be absent.
  app.get("/open", (req, res) => {
    expectTypeOf(req.agentwrit).toEqualTypeOf<AgentIdentity | undefined>();
    // @ts-expect-error possibly undefined outside a guard
    res.send(req.agentwrit.agentId);
  });
  app.get("/plain/:id", requireScope("read:data:customer-{id}"), (req: Request<{ id: string }>, res: Response) => {
    res.send(req.agentwrit?.agentId ?? req.params.id);
  });
  expectTypeOf<Request["agentwrit"]>().toEqualTypeOf<AgentIdentity | undefined>();
  expectTypeOf<AgentWritRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
  expectTypeOf<AgentWritRequest<{ id: string }>["params"]>().toEqualTypeOf<{ id: string }>();

  // Options are valid under exactOptionalPropertyTypes: optional means "may be undefined".
  const options: AgentWritExpressOptions = { passErrors: maybe, guard: undefined };
  const input: AgentWritGuardInput = { audience: fromEnv, issuer: fromEnv, passErrors: maybe };
  app.use(agentwritGuard(options), agentwritGuard(input));
}
