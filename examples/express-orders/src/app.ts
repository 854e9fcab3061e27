/**
 * The order API with Express, every route guarded by an AgentWrit scope:
 *
 * - `GET /customers/:id` needs `read:data:customer-{id}`;
 * - `POST /orders/:id/confirm` needs `write:data:order-{id}`;
 * - `GET /admin/report` needs any `read:reports:*` scope.
 */
import { agentwritGuard, checkRoutes, requireScope, type AgentWritGuardInput, type AgentWritRequest } from "@agentwrit/guard-express";
import express, { type Express, type Response } from "express";
import { createStore } from "@agentwrit/example-order-store";

/** A request on a `/:id` route behind the guard: `req.agentwrit` is the verified agent. */
type ById = AgentWritRequest<{ id: string }>;

/** `guard`: a guard or guard options; omitted, `AGENTWRIT_*` are read from `process.env`. */
export function createApp(guard?: AgentWritGuardInput): Express {
  const store = createStore();
  const app = express();

  // Verify the agent token once, for every route; each route then checks its own scope.
  app.use(guard === undefined ? agentwritGuard() : agentwritGuard(guard));

  app.get("/customers/:id", requireScope("read:data:customer-{id}"), (req: ById, res: Response) => {
    const customer = store.customer(req.params.id);
    if (customer === undefined) res.status(404).json({ error: "no such customer" });
    else res.json(customer);
  });

  app.post("/orders/:id/confirm", requireScope("write:data:order-{id}"), (req: ById, res: Response) => {
    const order = store.confirm(req.params.id, req.agentwrit.agentId);
    if (order === undefined) res.status(404).json({ error: "no such order" });
    else res.json(order);
  });

  app.get("/admin/report", requireScope("read:reports:*"), (_req, res) => {
    res.json(store.report());
  });

  // At startup: every {placeholder} is a parameter of its route (a TypeError naming it otherwise).
  checkRoutes(app);
  return app;
}
