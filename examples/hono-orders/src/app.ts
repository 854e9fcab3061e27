/**
 * The order API with Hono, every route guarded by an AgentWrit scope:
 *
 * - `GET /customers/:id` needs `read:data:customer-{id}`;
 * - `POST /orders/:id/confirm` needs `write:data:order-{id}`;
 * - `GET /admin/report` needs any `read:reports:*` scope.
 *
 * Web APIs only: the same app runs on Node (see `main.ts`), Bun, Deno or Workers.
 */
import { agentwritGuard, checkRoutes, requireScope, type AgentWritHonoOptions } from "@agentwrit/guard-hono";
import { Hono } from "hono";
import { createStore } from "@agentwrit/example-order-store";

/** `guard`: a guard or guard options; omitted, `AGENTWRIT_*` are read from `process.env`. */
export function createApp(guard?: AgentWritHonoOptions): Hono {
  const store = createStore();
  // A plain app: each route's requireScope() types `c.var.agentwrit` for the handler after it.
  const app = new Hono();

  // Verify the agent token once, for every route; each route then checks its own scope.
  app.use("*", guard === undefined ? agentwritGuard() : agentwritGuard(guard));

  app.get("/customers/:id", requireScope("read:data:customer-{id}"), (c) => {
    const customer = store.customer(c.req.param("id"));
    return customer === undefined ? c.json({ error: "no such customer" }, 404) : c.json(customer);
  });

  app.post("/orders/:id/confirm", requireScope("write:data:order-{id}"), (c) => {
    const order = store.confirm(c.req.param("id"), c.var.agentwrit.agentId);
    return order === undefined ? c.json({ error: "no such order" }, 404) : c.json(order);
  });

  app.get("/admin/report", requireScope("read:reports:*"), (c) => c.json(store.report()));

  // At startup: every {placeholder} is a parameter of its route (a TypeError naming it otherwise).
  checkRoutes(app);
  return app;
}
