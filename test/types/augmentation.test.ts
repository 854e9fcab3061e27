/**
 * Type-level contracts of the adapters' augmentations, checked by `tsc` (the test package's
 * typecheck) and, trivially, at run time: what handlers see, and that nothing claims `req.auth`.
 */
import type { AgentIdentity, CompiledRequirement, GuardError, GuardErrorCode, Requirement } from "@agentwrit/guard";
import { isGuardError } from "@agentwrit/guard";
import type { AgentWritRequest } from "@agentwrit/guard-express";
import type { AgentWritHook } from "@agentwrit/guard-fastify";
import type { AgentWritEnv, AgentWritVariables } from "@agentwrit/guard-hono";
import type { Request } from "express";
import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from "fastify";
import type { Context } from "hono";
import { describe, expectTypeOf, it } from "vitest";

describe("adapter typing", () => {
  it("Express: req.agentwrit is the identity (or undefined before a guard); req.auth is not claimed", () => {
    expectTypeOf<Request["agentwrit"]>().toEqualTypeOf<AgentIdentity | undefined>();
    expectTypeOf<AgentWritRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
    expectTypeOf<Request>().not.toHaveProperty("auth");
  });
  it("Fastify: request.agentwrit is nullable, instance hooks and route config are typed", () => {
    expectTypeOf<FastifyRequest["agentwrit"]>().toEqualTypeOf<AgentIdentity | null>();
    expectTypeOf<FastifyInstance["agentwritGuard"]>().toBeCallableWith("read:data:customer-{id}");
    expectTypeOf<FastifyInstance["agentwritGuard"]>().toBeCallableWith();
    expectTypeOf<FastifyInstance["agentwritGuard"]>().returns.toEqualTypeOf<AgentWritHook>();
    expectTypeOf<ReturnType<FastifyInstance["requireScope"]>>().toEqualTypeOf<AgentWritHook>();
    expectTypeOf<NonNullable<FastifyContextConfig["agentwrit"]>["scope"]>().toEqualTypeOf<Requirement | CompiledRequirement | undefined>();
  });
  it("Hono: c.get('agentwrit') is the identity under AgentWritEnv", () => {
    expectTypeOf<AgentWritVariables["agentwrit"]>().toEqualTypeOf<AgentIdentity>();
    const read = (c: Context<AgentWritEnv>) => c.get("agentwrit");
    expectTypeOf(read).returns.toEqualTypeOf<AgentIdentity>();
  });
  it("Core: isGuardError narrows, and codes are a closed union", () => {
    const e: unknown = undefined;
    if (isGuardError(e)) expectTypeOf(e).toEqualTypeOf<GuardError>();
    expectTypeOf<"token_expired">().toExtend<GuardErrorCode>();
    expectTypeOf<"not_a_code">().not.toExtend<GuardErrorCode>();
  });
});
