/**
 * The order API with Fastify, every route guarded by an AgentWrit scope:
 *
 * - `GET /customers/:id` needs `read:data:customer-{id}`;
 * - `POST /orders/:id/confirm` needs `write:data:order-{id}`;
 * - `GET /admin/report` needs any `read:reports:*` scope.
 */
import { agentwrit, type Guard, type GuardOptions } from "@agentwrit/guard-fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { createStore } from "@agentwrit/example-order-store";

interface IdParams {
  id: string;
}

/** `guard`: a guard or guard options; omitted, `AGENTWRIT_*` are read from `process.env`. */
export async function createApp(guard?: Guard | GuardOptions): Promise<FastifyInstance> {
  const store = createStore();
  const app = Fastify();

  // Register the plugin before the routes: it adds the check to every route declaring `config.agentwrit`.
  await app.register(agentwrit, guard ?? {});

  app.get<{ Params: IdParams }>("/customers/:id", { config: { agentwrit: { scope: "read:data:customer-{id}" } } }, async (req, reply) => {
    return store.customer(req.params.id) ?? reply.code(404).send({ error: "no such customer" });
  });

  app.post<{ Params: IdParams }>("/orders/:id/confirm", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, async (req, reply) => {
    return store.confirm(req.params.id, req.agentwrit!.agentId) ?? reply.code(404).send({ error: "no such order" });
  });

  app.get("/admin/report", { config: { agentwrit: { scope: "read:reports:*" } } }, async () => store.report());

  return app;
}
