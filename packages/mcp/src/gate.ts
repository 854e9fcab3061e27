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
import { bodyFailureResponse, parseJson, readWebBody, type BodyLimits, type BodyRead } from "./body.js";
import { NamedRequirements, type McpRequirement, type Resolution, type UnlistedPolicy } from "./entries.js";
import { resolveGateOptions, type McpGateOptions } from "./gate-options.js";
import { jsonRpcErrorResponse, JSON_RPC_INVALID_REQUEST, JSON_RPC_PARSE_ERROR, toWebResponse, type HttpResponse } from "./http.js";
import { inspectBody, type GatedMessage } from "./json-rpc.js";
import { auditServer, type McpAudit } from "./lists.js";
import { GateLog, isLogger } from "./log.js";
import { ResourceRequirements } from "./resources.js";
import { createSessions, sessionNotFoundResponse, type McpSessions, type SessionRequest } from "./sessions.js";
import { guarded, thrown, toolRefusal, type ToolRefusal } from "./wrap.js";

/** The outcome of authenticating a request. */
export type GateAuthentication =
  | { readonly ok: true; readonly authInfo: AuthInfo; readonly identity: AgentIdentity }
  | { readonly ok: false; readonly response: HttpResponse; readonly error: GuardError };

/** A refused request: the response to send; `reason` (never sent) when the server is at fault. */
export interface GateRefusal {
  readonly ok: false;
  readonly response: HttpResponse;
  readonly error?: GuardError;
  readonly reason?: string;
}

/** An allowed request: hand `authInfo` to the transport; `session` goes to `gate.sessions.observe`. */
export interface GatePass {
  readonly ok: true;
  readonly authInfo: AuthInfo;
  readonly identity: AgentIdentity;
  readonly session: SessionRequest;
}

/** The outcome of checking a request. */
export type GateResult = GatePass | GateRefusal;

/** The outcome of {@link McpGate.checkRequest}: on success, pass `authInfo` and `parsedBody` to the transport. */
export type FetchGateResult =
  | (GatePass & { readonly parsedBody: unknown })
  | { readonly ok: false; readonly response: Response; readonly error?: GuardError; readonly reason?: string };

/**
 * A request body as an adapter has it: parsed by a body parser, read by the gate's reader, or
 * unusable because of the server's wiring (`reason` says what is wrong; answered 500).
 */
export type GateBody = { readonly parsed: unknown } | BodyRead | { readonly wiring: string };

/** A request as an adapter sees it, for {@link McpGate.checkHttp}. */
export interface GateHttpRequest {
  readonly authorization: string | null | undefined;
  readonly method: string;
  readonly sessionId: string | undefined;
  /** Called only after authentication and the session check, and only for POST. */
  readonly body: () => Promise<GateBody>;
  /**
   * The body is still on the connection (not read by a parser): a POST refused before reading it
   * is answered with `Connection: close`, so that the server does not read a body nobody wants.
   */
  readonly streamed?: boolean | undefined;
}

export interface McpGate {
  readonly guard: Guard;
  readonly resource: string | undefined;
  readonly unlistedTools: UnlistedPolicy;
  readonly unlistedResources: UnlistedPolicy;
  readonly unlistedPrompts: UnlistedPolicy;
  /** Body limits the adapters apply. */
  readonly body: BodyLimits;
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
   * tell what the transport would read), and the `Mcp-Session-Id` header in stateful mode.
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
   * Compares an `McpServer`'s registered tools, resources and prompts with the maps: returns the
   * ones without an entry and logs a `warn` for each (once) through the gate's logger.
   */
  audit(server: object): McpAudit;
}

function identityOf(who: AgentIdentity | AuthInfo | undefined): AgentIdentity | undefined {
  if (who === undefined) return undefined;
  return "agentId" in who ? who : getAgentIdentity(who);
}

const argsOf = (args: unknown): Readonly<Record<string, unknown>> =>
  typeof args === "object" && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {};

/** Whether an HTTP method (from a caller that may pass anything) is POST. */
const isPost = (method: unknown): boolean => typeof method === "string" && method.toUpperCase() === "POST";

const WIRING_ANSWER = "Internal error: the server's authorization for this endpoint is misconfigured";

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
        return m.ref.type === "prompt" ? prompts.resolveFamily(m.ref.name) : resources.resolveFamily(m.ref.uri);
    }
  };

  const wiring = (reason: string): GateRefusal => {
    log.wiring(reason);
    return { ok: false, response: jsonRpcErrorResponse(500, -32603, WIRING_ANSWER), reason };
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

  const decide = (identity: AgentIdentity, body: unknown): { readonly refusal: HttpResponse | undefined; readonly initialize: boolean } => {
    const inspection = inspectBody(body, { maxBatchSize: config.maxBatchSize });
    if (!inspection.ok) return { refusal: jsonRpcErrorResponse(400, JSON_RPC_INVALID_REQUEST, inspection.message), initialize: false };
    const resolutions = inspection.messages.map(resolve);
    for (const r of resolutions) {
      if ("invalid" in r) return { refusal: jsonRpcErrorResponse(400, JSON_RPC_INVALID_REQUEST, `Invalid Request: ${r.invalid}`), initialize: false };
    }
    const refusal = authorizer.all(identity, resolutions);
    return { refusal: refusal === undefined ? undefined : toErrorResponse(refusal), initialize: inspection.initialize };
  };

  const checkHttp = async (request: GateHttpRequest): Promise<GateResult & { readonly parsedBody?: unknown }> => {
    const body = { read: false };
    const result = await checkParts({
      ...request,
      body: () => {
        body.read = true;
        return request.body();
      },
    });
    if (result.ok || body.read || request.streamed !== true || !isPost(request.method)) return result;
    return { ...result, response: { ...result.response, headers: { ...result.response.headers, Connection: "close" } } };
  };

  const checkParts = async (request: GateHttpRequest): Promise<GateResult & { readonly parsedBody?: unknown }> => {
    if (typeof request.method !== "string" || request.method === "") {
      return wiring("the gate was called without the request's HTTP method, so it cannot tell whether a body must be checked");
    }
    const method = request.method.toUpperCase();
    const auth = await authenticate(request.authorization);
    if (!auth.ok) return auth;
    const sessionId = request.sessionId;
    // An id this agent does not own is answered as an unknown one: ids cannot be probed.
    if (sessionId !== undefined && !sessions.owns(sessionId, auth.identity)) return { ok: false, response: sessionNotFoundResponse() };
    let parsedBody: unknown;
    if (method === "POST") {
      const body = await request.body();
      if ("wiring" in body) return wiring(body.wiring);
      if ("parsed" in body) {
        if (body.parsed === undefined) {
          return wiring("a POST reached the gate without its parsed body (check(authorization, parsedBody, method) needs the body the transport will get)");
        }
        parsedBody = body.parsed;
      } else if (!body.ok) {
        if (body.failure === "consumed") return wiring("the request body was already read by something else and no parsed body was given");
        return { ok: false, response: bodyFailureResponse(body.failure, config.body) };
      } else {
        const parsed = parseJson(body.text);
        if (parsed === undefined) return { ok: false, response: jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: Invalid JSON") };
        parsedBody = parsed.value;
      }
    }
    const { refusal, initialize } = decide(auth.identity, parsedBody);
    if (refusal !== undefined) return { ok: false, response: refusal };
    const session: SessionRequest = { id: sessionId, initialize: initialize && sessionId === undefined, method };
    return { ok: true, authInfo: auth.authInfo, identity: auth.identity, session, parsedBody };
  };

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
    body: config.body,
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
    audit: (server) => auditServer(server, { tools, prompts, resources }, log),
  };
  return gate;
}
