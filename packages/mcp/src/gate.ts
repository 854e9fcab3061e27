/**
 * The MCP gate: every request authenticated, its session checked against the agent that started
 * it, its body bounded, and every message that touches data (`tools/call`, `resources/read`,
 * `resources/subscribe`, `prompts/get`, `completion/complete`) checked against the gate's maps
 * before the transport dispatches anything. Every rule (matching, templates, challenges) is
 * core's; the maps, resources, sessions, body reading and handler wrappers have their own files.
 */
import { bearerToken, isGuardError, toErrorResponse, type AgentIdentity, type Guard, type GuardError } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { getAgentIdentity, toAuthInfo } from "./auth-info.js";
import { Authorizer } from "./authorize.js";
import { readWebBody, type BodyLimits } from "./body.js";
import { completionHeld, NamedRequirements, type McpRequirement, type Resolution, type UnlistedPolicy } from "./entries.js";
import { resolveGateOptions, type McpGateOptions } from "./gate-options.js";
import { toWebResponse, type HttpResponse } from "./http.js";
import type { GatedMessage } from "./json-rpc.js";
import { auditServer, type McpAudit } from "./lists.js";
import { GateLog, isLogger } from "./log.js";
import { ResourceRequirements } from "./resources.js";
import { requestChecker, type GateAuthentication, type GateHttpRequest, type GatePass, type GateResult } from "./request.js";
import { createSessions, type McpSessions } from "./sessions.js";
import { guarded, thrown, toolRefusal, type ToolRefusal } from "./wrap.js";

export type { GateAuthentication, GateBody, GateHttpRequest, GatePass, GateRefusal, GateResult } from "./request.js";

/** The outcome of {@link McpGate.checkRequest}: on success, pass `authInfo` and `parsedBody` to the transport. */
export type FetchGateResult =
  | (GatePass & { readonly parsedBody: unknown })
  | { readonly ok: false; readonly response: Response; readonly error?: GuardError; readonly reason?: string };

export interface McpGate {
  readonly guard: Guard;
  readonly resource: string | undefined;
  readonly unlistedTools: UnlistedPolicy;
  readonly unlistedResources: UnlistedPolicy;
  readonly unlistedPrompts: UnlistedPolicy;
  /** Body limits the adapters apply (`maxBodyBytes`, `bodyTimeoutMs`). */
  readonly bodyLimits: BodyLimits;
  /** Stateful sessions and the agents they belong to. */
  readonly sessions: McpSessions;
  /** The requirement declared for a tool, if any. */
  requirementOf(tool: string): McpRequirement | undefined;
  /** Verifies the `Authorization` header value (401 / 503 response on failure). */
  authenticate(authorization: string | null | undefined): Promise<GateAuthentication>;
  /**
   * Checks every gated message of a parsed JSON-RPC body (one message or a batch) for an
   * authenticated agent. `undefined` when allowed, else the response: 400 for a batch over
   * `maxBatchSize`, a malformed gated message or a bad value; 403 `insufficient_scope` naming
   * the missing scopes of every refused message (capped).
   */
  authorizeBody(identity: AgentIdentity, body: unknown): HttpResponse | undefined;
  /**
   * `authenticate`, the session check, then `authorizeBody`. Pass the body exactly as it will be
   * given to the transport, the HTTP method (a POST without a parsed body is refused: nobody could
   * tell what the transport would read), and the `Mcp-Session-Id` header in stateful mode. A body
   * given is checked whatever the method; raw bytes or a stream instead of the parsed body are a
   * 500 (wiring mistake).
   */
  check(authorization: string | null | undefined, parsedBody: unknown, method: string, sessionId?: string | null): Promise<GateResult>;
  /** The fetch form: authenticates, checks the session, reads (bounded) and parses a POST body, checks it. */
  checkRequest(request: Request): Promise<FetchGateResult>;
  /** For adapters: the whole check, with the body read only when needed. */
  checkHttp(request: GateHttpRequest): Promise<GateResult & { readonly parsedBody?: unknown }>;
  /** Throws core's `GuardError` (403 or 400) unless `identity` may call `tool` with `args`. */
  authorizeCall(identity: AgentIdentity, tool: string, args: unknown): void;
  /** Throws core's `GuardError` unless `identity` may read `uri`. */
  authorizeResource(identity: AgentIdentity, uri: string): void;
  /** Throws core's `GuardError` unless `identity` may get `prompt` with `args`. */
  authorizePrompt(identity: AgentIdentity, prompt: string, args: unknown): void;
  /** A tool handler that runs only when `extra.authInfo` allows the call (else an `isError` result). */
  wrapTool<A extends unknown[], R>(tool: string, handler: (...args: A) => R): (...args: A) => R | ToolRefusal;
  /**
   * A resource read callback that runs only when `extra.authInfo` may read the URI it is called
   * with (else it throws an `McpError`). `key` is the URI or template it is registered under.
   */
  wrapResource<A extends [URL, ...unknown[]], R>(key: string, handler: (...args: A) => R): (...args: A) => R;
  /** A prompt callback that runs only when `extra.authInfo` may get it with its arguments (else an `McpError`). */
  wrapPrompt<A extends unknown[], R>(prompt: string, handler: (...args: A) => R): (...args: A) => R;
  /**
   * Whether an agent would see `tool` in `tools/list`: its requirement with every `{placeholder}`
   * read as "any value" is met.
   */
  canSee(who: AgentIdentity | AuthInfo | undefined, tool: string): boolean;
  /** The tools `who` can see (for a low-level `Server`'s own `tools/list` handler). */
  visibleTools<T extends { readonly name: string }>(tools: readonly T[], who: AgentIdentity | AuthInfo | undefined): T[];
  /** The prompts `who` could get with some arguments. */
  visiblePrompts<T extends { readonly name: string }>(prompts: readonly T[], who: AgentIdentity | AuthInfo | undefined): T[];
  /** The resources `who` may read (each URI checked as `resources/read` would be). */
  visibleResources<T extends Pick<Resource, "uri">>(resources: readonly T[], who: AgentIdentity | AuthInfo | undefined): T[];
  /** The resource templates `who` could read with some values. */
  visibleResourceTemplates<T extends Pick<ResourceTemplate, "uriTemplate">>(templates: readonly T[], who: AgentIdentity | AuthInfo | undefined): T[];
  /**
   * The `completion/complete` values `who` could use: each value of `argument` bound into the
   * requirement of the prompt (`ref/prompt`) or resource template (`ref/resource`), with the
   * request's `context.arguments` bound too and other placeholders read as "any value".
   * `filterLists` applies it; a low-level `Server` calls it from its own completion handler (the
   * SDK's completers are not told who asks).
   */
  visibleCompletions(
    ref: CompletionRef,
    argument: string,
    values: readonly string[],
    who: AgentIdentity | AuthInfo | undefined,
    context?: Readonly<Record<string, unknown>>,
  ): string[];
  /**
   * Compares an `McpServer`'s registered tools, resources and prompts with the maps: returns the
   * ones without an entry and logs a `warn` for each (once) through the gate's logger.
   */
  audit(server: object): McpAudit;
}

/** A `completion/complete` request's `ref`: `{ type: "ref/prompt", name }` or `{ type: "ref/resource", uri }`. */
export interface CompletionRef {
  readonly type: string;
  readonly name?: string | undefined;
  readonly uri?: string | undefined;
}

function identityOf(who: AgentIdentity | AuthInfo | undefined): AgentIdentity | undefined {
  if (who === undefined) return undefined;
  return "agentId" in who ? who : getAgentIdentity(who);
}

const argsOf = (args: unknown): Readonly<Record<string, unknown>> =>
  typeof args === "object" && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {};

/**
 * Creates the gate. Maps are compiled now: a malformed or empty requirement is a `TypeError`.
 *
 * @example
 * const gate = createMcpGate({
 *   guard: { brokerUrl, publicKey, resource: "https://mcp.example/mcp" },
 *   tools: { get_patient_record: "read:records:patient-{patientId}" },
 *   resources: { "records://patients/{patientId}": "read:records:patient-{patientId}" },
 *   prompts: { summarize_patient: "read:records:patient-{patientId}" },
 * });
 */
export function createMcpGate(options: McpGateOptions): McpGate {
  if (options.logger !== undefined && !isLogger(options.logger)) throw new TypeError("createMcpGate: logger must have debug, info, warn and error methods");
  const config = resolveGateOptions(options);
  const { guard, resource } = config;
  const tools = new NamedRequirements("tools", options.tools, config.unlisted.tools, "tools/call");
  const prompts = new NamedRequirements("prompts", options.prompts, config.unlisted.prompts, "prompts/get");
  const resources = new ResourceRequirements(options.resources, config.unlisted.resources);
  const authorizer = new Authorizer(guard, config.authorize);
  const log = new GateLog(config.logger);
  const sessions = createSessions(config.maxSessions);
  const maxParamLength = config.authorize.maxParamLength;

  const resolve = (m: GatedMessage): Resolution => {
    switch (m.kind) {
      case "tool":
        return tools.resolve(m.name, m.arguments);
      case "prompt":
        return prompts.resolve(m.name, m.arguments);
      case "resource":
        return resources.resolve(m.uri);
      case "completion":
        return m.ref.type === "prompt" ? prompts.resolveFamily(m.ref.name, m.arguments) : resources.resolveFamily(m.ref.uri, m.arguments);
    }
  };

  const authenticate = async (authorization: string | null | undefined): Promise<GateAuthentication> => {
    try {
      const identity = await guard.authenticate(authorization);
      return { ok: true, identity, authInfo: toAuthInfo(bearerToken(authorization) ?? "", identity, resource) };
    } catch (e) {
      if (!isGuardError(e)) throw e;
      return { ok: false, response: toErrorResponse(e), error: e };
    }
  };

  const { checkHttp, decide } = requestChecker({ authenticate, sessions, log, body: config.body, maxBatchSize: config.maxBatchSize, resolve, authorizer });

  const authorizeOne = (identity: AgentIdentity, r: Resolution): void => {
    authorizer.one(identity, r);
  };

  /** A handler wrapper; wrapping a name the map denies outright is a `TypeError` (it could never run). */
  const wrap = <A extends unknown[], R, F>(
    what: string,
    usable: boolean,
    handler: (...args: A) => R,
    check: (identity: AgentIdentity, args: A) => void,
    refuse: (err: GuardError) => F,
  ): ((...args: A) => R | F) => {
    if (!usable) throw new TypeError(`${what}: it has no requirement in the gate's map, so every request would be refused`);
    return guarded(handler, check, () => guard.error("missing_token"), refuse);
  };

  const gate: McpGate = {
    guard,
    resource,
    unlistedTools: config.unlisted.tools,
    unlistedResources: config.unlisted.resources,
    unlistedPrompts: config.unlisted.prompts,
    bodyLimits: config.body,
    sessions,
    requirementOf: (tool) => tools.get(tool)?.requirement,
    authenticate,
    authorizeBody: (identity, body) => decide(identity, body).refusal,
    checkHttp,
    async check(authorization, parsedBody, method, sessionId) {
      const { parsedBody: _checked, ...result } = await checkHttp({
        authorization,
        method,
        sessionId: sessionId === null || sessionId === "" ? undefined : sessionId,
        body: () => Promise.resolve({ parsed: parsedBody }),
        bodyGiven: true,
      });
      return result;
    },
    async checkRequest(request) {
      const result = await checkHttp({
        authorization: request.headers.get("authorization"),
        method: request.method,
        sessionId: request.headers.get("mcp-session-id") ?? undefined,
        body: () => readWebBody(request, config.body),
        streamed: true,
      });
      if (!result.ok) return { ...result, response: toWebResponse(result.response) };
      return { ok: true, authInfo: result.authInfo, identity: result.identity, session: result.session, parsedBody: result.parsedBody };
    },
    authorizeCall: (identity, tool, args) => {
      authorizeOne(identity, tools.resolve(tool, argsOf(args)));
    },
    authorizeResource: (identity, uri) => {
      authorizeOne(identity, resources.resolve(uri));
    },
    authorizePrompt: (identity, prompt, args) => {
      authorizeOne(identity, prompts.resolve(prompt, argsOf(args)));
    },
    wrapTool(tool, handler) {
      // The SDK calls (args, extra) for tools with an input schema and (extra) for the others.
      return wrap(`wrapTool("${tool}")`, tools.get(tool) !== undefined || tools.policy === "allow", handler, (identity, a) => {
        gate.authorizeCall(identity, tool, a.length >= 2 ? a[0] : undefined);
      }, toolRefusal);
    },
    wrapResource(key, handler) {
      // The SDK calls (uri, extra) for a fixed resource and (uri, variables, extra) for a template.
      return wrap(`wrapResource("${key}")`, resources.get(key) !== undefined || resources.policy === "allow", handler, (identity, a) => {
        gate.authorizeResource(identity, a[0].href);
      }, thrown);
    },
    wrapPrompt(prompt, handler) {
      return wrap(`wrapPrompt("${prompt}")`, prompts.get(prompt) !== undefined || prompts.policy === "allow", handler, (identity, a) => {
        gate.authorizePrompt(identity, prompt, a.length >= 2 ? a[0] : undefined);
      }, thrown);
    },
    canSee: (who, tool) => {
      const identity = identityOf(who);
      return identity !== undefined && tools.visible(tool, identity.scope);
    },
    visibleTools: (list, who) => list.filter((t) => gate.canSee(who, t.name)),
    visiblePrompts(list, who) {
      const identity = identityOf(who);
      return identity === undefined ? [] : list.filter((p) => prompts.visible(p.name, identity.scope));
    },
    visibleResources(list, who) {
      const identity = identityOf(who);
      return identity === undefined ? [] : list.filter((r) => resources.readable(r.uri, identity.scope, maxParamLength));
    },
    visibleResourceTemplates(list, who) {
      const identity = identityOf(who);
      return identity === undefined ? [] : list.filter((t) => resources.templateVisible(t.uriTemplate, identity.scope));
    },
    visibleCompletions(ref, argument, values, who, context) {
      const identity = identityOf(who);
      if (identity === undefined) return [];
      const [map, key] = ref.type === "ref/prompt" ? [prompts, ref.name] : ref.type === "ref/resource" ? [resources, ref.uri] : [undefined, undefined];
      if (map === undefined || typeof key !== "string") return [];
      const entry = map.get(key);
      if (entry === undefined) return map.policy === "allow" ? [...values] : [];
      return values.filter((v) => completionHeld(entry, identity.scope, argument, v, maxParamLength, context));
    },
    audit: (server) => auditServer(server, { tools, prompts, resources }, log),
  };
  return gate;
}
