import type { AgentIdentity, CompiledRequirement, Requirement } from "@agentwrit/guard";
import type {
  ContextConfigDefault,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  FastifyTypeProviderDefault,
  HookHandlerDoneFunction,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
} from "fastify";

/**
 * A hook for `onRequest`, `preValidation` or `preHandler`; it answers refusals itself. Fastify
 * calls it callback style (a cached token is decided without a promise); called with two
 * arguments, from an app's own async hook, it returns a promise as an async hook does.
 */
export interface AgentWritHook {
  (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void;
  /** Resolves with the reply when it refused (the reply is sent), `undefined` when the request goes on. */
  (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
}

/**
 * Per-route configuration: `{ config: { agentwrit: { scope: "read:data:{id}" } } }`, or
 * `{ config: { agentwrit: {} } }` to authenticate only. Any other key, or `scope: undefined`, is a
 * `TypeError` naming the route.
 */
export interface AgentWritRouteConfig {
  /** Requirement for this route (`{placeholders}` bind to `request.params`); omit to authenticate only. */
  readonly scope?: Requirement | CompiledRequirement;
}

/** A type-only brand (never present at run time) that marks a request type as verified by a guard. */
declare const verifiedBrand: unique symbol;

/**
 * Carried in the `ContextConfig` type parameter of a request type to say that a guard verified
 * it; {@link AgentWritRequest} adds it. Optional and keyed by a symbol no one can name, so route
 * `config` objects need nothing more.
 */
export interface AgentWritVerified {
  readonly [verifiedBrand]?: true;
}

/**
 * The request of a handler behind an AgentWrit check (route `config.agentwrit`,
 * `app.agentwritGuard()`, `app.requireScope()`): `request.agentwrit` is an `AgentIdentity`, not
 * `AgentIdentity | undefined`. Use it as the handler's parameter type:
 * `async (request: AgentWritRequest<{ Params: { id: string } }>) => …`.
 *
 * Declaring it is a promise that a check runs on the route (types cannot see hooks).
 */
export type AgentWritRequest<RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault> = FastifyRequest<
  RouteGeneric,
  RawServerDefault,
  RawRequestDefaultExpression,
  FastifySchema,
  FastifyTypeProviderDefault,
  ContextConfig & AgentWritVerified
>;

declare module "fastify" {
  // The type parameters repeat Fastify's own (merged declarations must) so that the agent's type can follow `ContextConfig`.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Fastify's names
  interface FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger, RequestType> {
    /**
     * The verified agent; `undefined` until an AgentWrit check has verified this request. In a
     * handler typed {@link AgentWritRequest} it is the identity itself.
     */
    agentwrit: typeof verifiedBrand extends keyof ContextConfig ? AgentIdentity : AgentIdentity | undefined;
  }
  interface FastifyInstance {
    /** A hook that verifies the token and, when given, the requirement. */
    agentwritGuard(requirement?: Requirement | CompiledRequirement): AgentWritHook;
    /** A hook that checks ALL requirements against the agent an earlier hook verified (500 `guard_not_mounted` when none did). */
    requireScope(...requirements: Requirement[]): AgentWritHook;
    /** Like `requireScope`, but ANY one requirement is enough. */
    requireAnyScope(...requirements: Requirement[]): AgentWritHook;
  }
  interface FastifyContextConfig {
    agentwrit?: AgentWritRouteConfig;
  }
}
