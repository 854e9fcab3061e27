/**
 * Type-level contracts of the adapters, checked by `tsc` (the test package's typecheck, under
 * `strict` and `exactOptionalPropertyTypes`) and, trivially, at run time. One nullability story:
 * the agent is absent (`undefined`) until a guard verified the request, and every adapter has a
 * narrowed type for the handlers behind one. Express handlers are also compiled against Express
 * 4's types: see express-handlers.ts.
 */
import type { AgentIdentity, CompiledRequirement, GuardError, GuardErrorCode, GuardOptions, Requirement } from "@agentwrit/guard";
import { isGuardError } from "@agentwrit/guard";
import type { AgentWritRequest as ExpressAgentWritRequest } from "@agentwrit/guard-express";
import { agentwrit, type AgentWritHook, type AgentWritPluginOptions, type AgentWritRequest, type AgentWritRouteConfig } from "@agentwrit/guard-fastify";
import { agentwritGuard, requireScope, type AgentWritContext, type AgentWritEnv, type AgentWritHonoOptions, type AgentWritVariables } from "@agentwrit/guard-hono";
import type { Request } from "express";
import Fastify, { type FastifyContextConfig, type FastifyInstance, type FastifyRequest } from "fastify";
import { Hono, type Context } from "hono";
import { describe, expectTypeOf, it } from "vitest";
import { expressHandlers } from "./express-handlers.js";

/** A value read from configuration: maybe absent. */
const fromEnv: string | undefined = ({} as Record<string, string | undefined>).AGENTWRIT_AUDIENCE;

describe("adapter typing", () => {
  it("Express: req.agentwrit is undefined-able; AgentWritRequest<P> narrows it and is a handler parameter", () => {
    expectTypeOf<Request["agentwrit"]>().toEqualTypeOf<AgentIdentity | undefined>();
    expectTypeOf<ExpressAgentWritRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
    expectTypeOf<ExpressAgentWritRequest<{ id: string }>["params"]>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<Request>().not.toHaveProperty("auth");
    expectTypeOf(expressHandlers).toBeFunction();
  });

  it("Fastify: request.agentwrit is undefined-able; AgentWritRequest narrows it and is a handler parameter", () => {
    expectTypeOf<FastifyRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity | undefined>();
    expectTypeOf<AgentWritRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
    expectTypeOf<AgentWritRequest<{ Params: { id: string } }>["params"]>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<FastifyInstance["agentwritGuard"]>().toBeCallableWith("read:data:customer-{id}");
    expectTypeOf<FastifyInstance["agentwritGuard"]>().toBeCallableWith();
    expectTypeOf<FastifyInstance["agentwritGuard"]>().returns.toEqualTypeOf<AgentWritHook>();
    expectTypeOf<ReturnType<FastifyInstance["requireScope"]>>().toEqualTypeOf<AgentWritHook>();
    expectTypeOf<NonNullable<FastifyContextConfig["agentwrit"]>>().toEqualTypeOf<AgentWritRouteConfig>();
    expectTypeOf<AgentWritRouteConfig["scope"]>().toEqualTypeOf<Requirement | CompiledRequirement | undefined>();

    // Compiled, not run (zero-config registration would read the environment).
    const handlers = (): void => {
      const app = Fastify();
      void app.register(agentwrit, { audience: fromEnv, issuer: fromEnv, guard: undefined } satisfies AgentWritPluginOptions);
      app.get("/orders/:id", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, async (request: AgentWritRequest<{ Params: { id: string } }>) => {
        const agent: AgentIdentity = request.agentwrit;
        return { id: request.params.id, by: agent.agentId };
      });
      app.get("/me", { onRequest: app.agentwritGuard() }, async (request: AgentWritRequest, reply) => reply.send(request.agentwrit.agentId));
      app.get<{ Params: { id: string } }>("/open/:id", async (request) => {
        // @ts-expect-error possibly undefined outside a check
        return request.agentwrit.agentId + request.params.id;
      });
    };
    expectTypeOf(handlers).toBeFunction();
  });

  it("Hono: the agent is typed only behind the middleware; AgentWritContext for handlers declared apart", () => {
    expectTypeOf<AgentWritVariables["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
    const read = (c: Context<AgentWritEnv>) => c.get("agentwrit");
    expectTypeOf(read).returns.toEqualTypeOf<AgentIdentity>();

    // Compiled, not run (zero-config middleware reads the environment).
    const handlers = (): void => {
      const app = new Hono();
      app.use("*", agentwritGuard());
      app.get("/orders/:id", requireScope("write:data:order-{id}"), (c) => c.json({ id: c.req.param("id"), by: c.var.agentwrit.agentId }));
      const byId = (c: AgentWritContext<"/customers/:id">) => c.text(`${c.req.param("id")} ${c.var.agentwrit.agentId}`);
      app.get("/customers/:id", requireScope("read:data:customer-{id}"), byId);
      // @ts-expect-error an unguarded route of a plain app has no agent variable
      app.get("/open", (c) => c.text(c.var.agentwrit.agentId));
      // Chained from use("*"), every route after it is guarded, and typed so.
      const guarded = new Hono<{ Bindings: { KEY: string } }>().use("*", agentwritGuard((c) => ({ publicKey: c.env.KEY, audience: fromEnv })));
      guarded.get("/", (c) => c.text(c.var.agentwrit.agentId));
    };
    expectTypeOf(handlers).toBeFunction();
    const options: AgentWritHonoOptions = { publicKey: "…", audience: fromEnv, issuer: fromEnv } satisfies GuardOptions;
    expectTypeOf(options).toExtend<AgentWritHonoOptions>();
  });

  it("Core: isGuardError narrows, and codes are a closed union", () => {
    const e: unknown = undefined;
    if (isGuardError(e)) expectTypeOf(e).toEqualTypeOf<GuardError>();
    expectTypeOf<"token_expired">().toExtend<GuardErrorCode>();
    expectTypeOf<"guard_not_mounted">().toExtend<GuardErrorCode>();
    expectTypeOf<"not_a_code">().not.toExtend<GuardErrorCode>();
  });
});
