import type { AgentIdentity, CompiledRequirement, Requirement } from "@agentwrit/guard";
import type { FastifyReply, FastifyRequest } from "fastify";

/** An async hook for `onRequest`, `preValidation` or `preHandler`; it answers refusals itself. */
export type AgentWritHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** Per-route configuration: `{ config: { agentwrit: { scope: "read:data:{id}" } } }`. */
export interface AgentWritRouteConfig {
  /** Requirement for this route (`{placeholders}` bind to `request.params`); omit to authenticate only. */
  readonly scope?: Requirement | CompiledRequirement;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The verified agent; `null` until an AgentWrit hook has verified this request. */
    agentwrit: AgentIdentity | null;
  }
  interface FastifyInstance {
    /** A hook that verifies the token and, when given, the requirement. */
    agentwritGuard(requirement?: Requirement | CompiledRequirement): AgentWritHook;
    /** A hook that checks ALL requirements against the agent an earlier hook verified (401 when none did). */
    requireScope(...requirements: Requirement[]): AgentWritHook;
    /** Like `requireScope`, but ANY one requirement is enough. */
    requireAnyScope(...requirements: Requirement[]): AgentWritHook;
  }
  interface FastifyContextConfig {
    agentwrit?: AgentWritRouteConfig;
  }
}
