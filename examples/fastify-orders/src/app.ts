/**
 * The order API with Fastify, every route guarded by an AgentWrit scope:
 *
 * - `GET /customers/:id` needs `read:data:customer-{id}`;
 * - `POST /orders/:id/confirm` needs `write:data:order-{id}`;
 * - `GET /admin/report` needs any `read:reports:*` scope.
 */
import { agentwrit, type AgentWritRequest, type Guard, type GuardOptions } from "@agentwrit/guard-fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { createStore } from "@agentwrit/example-order-store";

/** A request on a `/:id` route behind the check: `req.agentwrit` is the verified agent. */
type ById = AgentWritRequest<{ Params: { id: string } }>;

/** `guard`: a guard or guard options; omitted, `AGENTWRIT_*` are read from `process.env`. */
export async function createApp(guard?: Guard | GuardOptions): Promise<FastifyInstance> {
  const store = createStore();
  const app = Fastify();

  // The plugin checks every route that declares `config.agentwrit`, whatever the order of
  // registration; registering it first also makes route mistakes TypeErrors right where they are.
  await app.register(agentwrit, guard ?? {});

  app.get("/customers/:id", { config: { agentwrit: { scope: "read:data:customer-{id}" } } }, async (req: ById, reply) => {
    return store.customer(req.params.id) ?? reply.code(404).send({ error: "no such customer" });
  });

  app.post("/orders/:id/confirm", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, async (req: ById, reply) => {
    return store.confirm(req.params.id, req.agentwrit.agentId) ?? reply.code(404).send({ error: "no such order" });
  });

  app.get("/admin/report", { config: { agentwrit: { scope: "read:reports:*" } } }, async () => store.report());

  return app;
}
