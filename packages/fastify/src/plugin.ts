/**
 * Fastify 5 plugin. Every rule lives in `@agentwrit/guard`: this file only reads the header,
 * calls the guard, and sends what it decided. No global hook is added: routes opt in with
 * `onRequest: [app.agentwritGuard(...)]` or `config: { agentwrit: { scope } }`.
 */
import {
  splitAdapterOptions,
  type GuardOptions,
  anyOf,
  authorizationFromRawHeaders,
  compileRequirement,
  isGuardError,
  PROBLEM_CONTENT_TYPE,
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type Requirement,
  type RequirementParams,
} from "@agentwrit/guard";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { AgentWritHook } from "./augment.js";

/** Plugin options: `GuardOptions` inline, or a shared `guard`; nothing at all reads `AGENTWRIT_*` from `process.env`. */
export interface AgentWritPluginOptions extends GuardOptions {
  /** A guard shared with other routes or adapters (or its options). */
  readonly guard?: Guard | GuardOptions;
}

/** Options Fastify's `register` itself understands; they are not guard options. */
const REGISTER_KEYS = ["prefix", "logLevel", "logSerializers"];

function guardFrom(opts: AgentWritPluginOptions | Guard): Guard {
  return splitAdapterOptions(opts, [], process.env, REGISTER_KEYS).guard;
}

function nonEmpty(list: readonly unknown[], name: string): void {
  if (list.length === 0) throw new TypeError(`${name}() needs at least one requirement`);
}

// eslint-disable-next-line @typescript-eslint/require-await -- Fastify awaits plugins; bad options then fail `ready()`
const plugin: FastifyPluginAsync<AgentWritPluginOptions | Guard> = async (app, opts) => {
  const guard = guardFrom(opts);
  /** The identity this plugin's guard returned per request: `request.agentwrit` is trusted only when it is this one. */
  const verified = new WeakMap<FastifyRequest, AgentIdentity>();

  /** `verify` runs at most once per request; later hooks only authorize the agent it found. */
  const hook = (requirement: CompiledRequirement | undefined, verify: boolean): AgentWritHook =>
    async function agentwrit(request: FastifyRequest, reply: FastifyReply) {
      const params = request.params as RequirementParams | undefined;
      try {
        const known = verified.get(request);
        if (known !== undefined) {
          if (requirement !== undefined) guard.authorize(known, requirement, params);
        } else if (verify) {
          const identity = await guard.verify(authorizationFromRawHeaders(request.raw.rawHeaders), requirement, params);
          verified.set(request, identity);
          request.agentwrit = identity;
        } else {
          throw guard.error("missing_token");
        }
      } catch (e) {
        if (!isGuardError(e)) throw e;
        const r = toErrorResponse(e);
        return reply.code(r.status).headers(r.headers).type(PROBLEM_CONTENT_TYPE).send(r.body);
      }
      return undefined;
    };

  app.decorateRequest("agentwrit", null);
  app.decorate("agentwritGuard", (requirement?: Requirement | CompiledRequirement) =>
    hook(requirement === undefined ? undefined : compileRequirement(requirement), true),
  );
  app.decorate("requireScope", (...requirements: Requirement[]) => {
    nonEmpty(requirements, "requireScope");
    return hook(compileRequirement(requirements), false);
  });
  app.decorate("requireAnyScope", (...requirements: Requirement[]) => {
    nonEmpty(requirements, "requireAnyScope");
    return hook(compileRequirement(anyOf(...requirements)), false);
  });
  // Routes that declare `config.agentwrit` get the check as their first onRequest hook;
  // routes that do not pay nothing.
  app.addHook("onRoute", (route) => {
    const config = route.config?.agentwrit;
    if (config === undefined) return;
    const check = hook(config.scope === undefined ? undefined : compileRequirement(config.scope), true);
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [check, ...existing];
  });
};

/**
 * `app.register(agentwrit, options)`: decorates `request.agentwrit`, `app.agentwritGuard()`,
 * `app.requireScope()` and `app.requireAnyScope()`, and enforces `config.agentwrit` on routes
 * registered after it. Refusals are sent as `application/problem+json` with the challenge.
 */
export const agentwrit = fp(plugin, { fastify: "5.x", name: "@agentwrit/guard-fastify" });
