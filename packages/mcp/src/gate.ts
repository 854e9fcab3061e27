/**
 * The MCP tool gate: per-tool scope requirements (templates bound to the tool's arguments),
 * enforced before dispatch at the HTTP layer, or inside tool handlers, and used to filter
 * `tools/list`. Every rule (matching, templates, challenges) is core's; this file only reads
 * JSON-RPC and maps tools to requirements.
 */
import {
  bearerToken,
  compileRequirement,
  evaluateRequirement,
  isGuardError,
  readCappedText,
  requirementFamily,
  toErrorResponse,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardError,
  type Requirement,
} from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getAgentIdentity, toAuthInfo } from "./auth-info.js";
import { jsonRpcErrorResponse, JSON_RPC_INVALID_REQUEST, JSON_RPC_PARSE_ERROR, toWebResponse, type HttpResponse } from "./http.js";
import { inspectBody, type ToolCall } from "./json-rpc.js";
import { resolveMcpGuard, resourceOf, type McpGuardOptions } from "./options.js";

/** Tool name → the scopes a call needs: a scope, a template (`read:records:{patientId}`), a list (all-of) or `anyOf(...)`. */
export type ToolScopeMap = Readonly<Record<string, Requirement>>;

/** What happens to tools that have no entry in the map. */
export type UnlistedToolsPolicy = "deny" | "allow";

export interface McpGateOptions {
  /** A guard, or options for {@link createMcpGuard} (then `resource` binds the audience). */
  readonly guard: Guard | McpGuardOptions;
  /**
   * The requirement of each tool. `{name}` placeholders are filled from the call's arguments;
   * a missing, empty, non-string or unsafe value (`*`, `%`, braces, whitespace) is refused with
   * 400 and never widens the requirement.
   */
  readonly tools: ToolScopeMap;
  /**
   * Tools absent from `tools`: `"deny"` refuses their calls (403 without a `scope`, since no
   * scope grants them) and hides them from `tools/list`; `"allow"` lets any authenticated agent
   * call and see them.
   * @default "deny"
   */
  readonly unlistedTools?: UnlistedToolsPolicy;
  /** The server's canonical URI for `AuthInfo.resource`. Defaults to the guard options' `resource`. */
  readonly resource?: string | URL;
  /** Largest request body `checkRequest` and the Express middleware read. @default 4 MiB (the SDK's own limit) */
  readonly maxBodyBytes?: number;
  /**
   * Refuse to build a gate whose guard has no `resourceMetadataUrl`: the MCP authorization spec
   * requires `resource_metadata` in the challenges.
   * @default true
   */
  readonly requireResourceMetadata?: boolean;
}

/** The outcome of authenticating a request. */
export type GateAuthentication =
  | { readonly ok: true; readonly authInfo: AuthInfo; readonly identity: AgentIdentity }
  | { readonly ok: false; readonly response: HttpResponse; readonly error: GuardError };

/** The outcome of checking a request: the `AuthInfo` to hand to the transport, or a response to send. */
export type GateResult =
  | { readonly ok: true; readonly authInfo: AuthInfo; readonly identity: AgentIdentity }
  | { readonly ok: false; readonly response: HttpResponse; readonly error?: GuardError };

/** The outcome of {@link McpGate.checkRequest}: on success, pass `authInfo` and `parsedBody` to the transport. */
export type FetchGateResult =
  | { readonly ok: true; readonly authInfo: AuthInfo; readonly identity: AgentIdentity; readonly parsedBody: unknown }
  | { readonly ok: false; readonly response: Response; readonly error?: GuardError };

/** A handler result refusing a tool call in-band (MCP `isError` result). */
export type ToolRefusal = CallToolResult & { readonly isError: true };

export interface McpGate {
  readonly guard: Guard;
  readonly resource: string | undefined;
  readonly unlistedTools: UnlistedToolsPolicy;
  /** The requirement declared for a tool, if any. */
  requirementOf(tool: string): Requirement | undefined;
  /** Verifies the `Authorization` header value (401 / 503 response on failure). */
  authenticate(authorization: string | null | undefined): Promise<GateAuthentication>;
  /**
   * Checks every `tools/call` in a parsed JSON-RPC body (one message or a batch) for an
   * authenticated agent. `undefined` when allowed, else the response to send: 400 for a
   * malformed tool call or a bad argument, 403 `insufficient_scope` naming every missing scope
   * of every refused call.
   */
  authorizeBody(identity: AgentIdentity, body: unknown): HttpResponse | undefined;
  /**
   * `authenticate` then `authorizeBody`. Pass the body exactly as it will be given to the
   * transport (`transport.handleRequest(req, res, body)`); give `method` so that a POST without
   * a parsed body is refused rather than left for the transport to read unchecked.
   */
  check(authorization: string | null | undefined, parsedBody?: unknown, method?: string): Promise<GateResult>;
  /**
   * The fetch form: authenticates, reads and parses a POST body (capped), checks it. On success
   * give both `authInfo` and `parsedBody` to `WebStandardStreamableHTTPServerTransport.handleRequest`.
   */
  checkRequest(request: Request): Promise<FetchGateResult>;
  /**
   * Throws core's `GuardError` (403 or 400) unless `identity` may call `tool` with `args`.
   */
  authorizeCall(identity: AgentIdentity, tool: string, args: unknown): void;
  /**
   * Wraps a tool handler for servers that cannot gate at HTTP: the handler runs only when
   * `extra.authInfo` (set by this package) allows the call; otherwise it returns an MCP error
   * result (`isError: true`) and the tool never runs.
   */
  wrapTool<A extends unknown[], R>(tool: string, handler: (...args: A) => R): (...args: A) => R | ToolRefusal;
  /**
   * Whether an agent would see `tool` in `tools/list`: its requirement with every `{placeholder}`
   * read as "any value" is met (`read:records:patient-{id}` is shown to a holder of
   * `read:records:patient-42`, or of `read:records:*`).
   */
  canSee(who: AgentIdentity | AuthInfo | undefined, tool: string): boolean;
  /** The tools `who` can see (for a low-level `Server`'s own `tools/list` handler). */
  visibleTools<T extends { readonly name: string }>(tools: readonly T[], who: AgentIdentity | AuthInfo | undefined): T[];
}

interface Entry {
  readonly requirement: Requirement;
  readonly compiled: CompiledRequirement;
  readonly visibility: CompiledRequirement;
}

const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

function identityOf(who: AgentIdentity | AuthInfo | undefined): AgentIdentity | undefined {
  if (who === undefined) return undefined;
  if ("agentId" in who) return who;
  return getAgentIdentity(who);
}

/** A tool-call refusal as an MCP tool result. */
export function toolRefusal(err: GuardError): ToolRefusal {
  const scope = err.scope.length > 0 ? ` Required scope: ${err.scope.join(" ")}.` : "";
  return {
    isError: true,
    content: [{ type: "text", text: `${err.problem.title} (${err.code}): ${err.problem.detail}${scope}` }],
  };
}

/**
 * Creates the gate. Requirements are compiled now: a malformed one is a `TypeError`.
 *
 * @example
 * const gate = createMcpGate({
 *   guard: { brokerUrl, publicKey, resource: "https://mcp.example/mcp" },
 *   tools: {
 *     get_patient_record: "read:records:patient-{patientId}",
 *     write_prescription: ["read:records:patient-{patientId}", "write:prescriptions:patient-{patientId}"],
 *   },
 * });
 */
export function createMcpGate(options: McpGateOptions): McpGate {
  if (typeof options !== "object" || (options as unknown) === null) throw new TypeError("createMcpGate(options): options must be an object");
  const guard = resolveMcpGuard(options.guard);
  const resource = resourceOf(options.guard, options.resource);
  const unlistedTools = options.unlistedTools ?? "deny";
  const given: unknown = unlistedTools;
  if (given !== "deny" && given !== "allow") throw new TypeError('unlistedTools must be "deny" or "allow"');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new TypeError("maxBodyBytes must be a positive integer");
  if (options.requireResourceMetadata !== false && guard.resourceMetadataUrl === undefined) {
    throw new TypeError(
      "createMcpGate: the guard has no resourceMetadataUrl, but MCP clients need resource_metadata in every 401 and 403. " +
        "Pass guard options with `resource` (or `resourceMetadataUrl`), or set requireResourceMetadata: false.",
    );
  }
  if (typeof options.tools !== "object" || (options.tools as unknown) === null) throw new TypeError("tools must be an object of tool name → requirement");
  const entries = new Map<string, Entry>();
  for (const [name, requirement] of Object.entries(options.tools)) {
    let compiled: CompiledRequirement;
    try {
      compiled = compileRequirement(requirement);
    } catch (e) {
      throw new TypeError(`tools["${name}"]: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    entries.set(name, { requirement, compiled, visibility: requirementFamily(compiled) });
  }

  const authorizeCall = (identity: AgentIdentity, tool: string, args: unknown): void => {
    const entry = entries.get(tool);
    if (entry === undefined) {
      if (unlistedTools === "allow") return;
      throw guard.error("insufficient_scope");
    }
    const params = typeof args === "object" && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {};
    guard.authorize(identity, entry.compiled, params);
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

  const authorizeCalls = (identity: AgentIdentity, calls: readonly ToolCall[]): HttpResponse | undefined => {
    const missing = new Set<string>();
    let refused = false;
    for (const call of calls) {
      try {
        authorizeCall(identity, call.name, call.arguments);
      } catch (e) {
        if (!isGuardError(e)) throw e;
        if (e.code !== "insufficient_scope") return toErrorResponse(e);
        refused = true;
        for (const s of e.scope) missing.add(s);
      }
    }
    // One challenge naming every scope the whole request needs but lacks.
    return refused ? toErrorResponse(guard.error("insufficient_scope", { scope: [...missing] })) : undefined;
  };

  const authorizeBody = (identity: AgentIdentity, body: unknown): HttpResponse | undefined => {
    const inspection = inspectBody(body);
    if (!inspection.ok) return jsonRpcErrorResponse(400, JSON_RPC_INVALID_REQUEST, inspection.message);
    return authorizeCalls(identity, inspection.calls);
  };

  const check = async (authorization: string | null | undefined, parsedBody?: unknown, method?: string): Promise<GateResult> => {
    const auth = await authenticate(authorization);
    if (!auth.ok) return auth;
    if (parsedBody === undefined && method?.toUpperCase() === "POST") {
      return { ok: false, response: jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: no parsed JSON body") };
    }
    const refusal = authorizeBody(auth.identity, parsedBody);
    return refusal === undefined ? auth : { ok: false, response: refusal };
  };

  const checkRequest = async (request: Request): Promise<FetchGateResult> => {
    const auth = await authenticate(request.headers.get("authorization"));
    if (!auth.ok) return { ok: false, response: toWebResponse(auth.response), error: auth.error };
    if (request.method.toUpperCase() !== "POST") return { ...auth, parsedBody: undefined };
    // Read a copy, so that the transport can still read the original; but hand it `parsedBody`.
    const text = await readCappedText(request.clone().body, maxBodyBytes);
    if (text === undefined) {
      return { ok: false, response: toWebResponse(jsonRpcErrorResponse(413, -32000, "Request body too large")) };
    }
    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(text);
    } catch {
      return { ok: false, response: toWebResponse(jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: Invalid JSON")) };
    }
    const refusal = authorizeBody(auth.identity, parsedBody);
    if (refusal !== undefined) return { ok: false, response: toWebResponse(refusal) };
    return { ...auth, parsedBody };
  };

  const canSee = (who: AgentIdentity | AuthInfo | undefined, tool: string): boolean => {
    const identity = identityOf(who);
    if (identity === undefined) return false;
    const entry = entries.get(tool);
    if (entry === undefined) return unlistedTools === "allow";
    return evaluateRequirement(entry.visibility, identity.scope).satisfied;
  };

  return {
    guard,
    resource,
    unlistedTools,
    requirementOf: (tool) => entries.get(tool)?.requirement,
    authenticate,
    authorizeBody,
    check,
    checkRequest,
    authorizeCall,
    canSee,
    visibleTools: (tools, who) => tools.filter((t) => canSee(who, t.name)),
    wrapTool<A extends unknown[], R>(tool: string, handler: (...args: A) => R): (...args: A) => R | ToolRefusal {
      if (!entries.has(tool) && unlistedTools === "deny") {
        throw new TypeError(`wrapTool("${tool}"): the tool has no requirement in the gate's tools map`);
      }
      return (...callArgs: A): R | ToolRefusal => {
        // The SDK calls (args, extra) for tools with an input schema and (extra) for the others.
        const extra = callArgs[callArgs.length - 1] as { readonly authInfo?: AuthInfo } | undefined;
        const args = callArgs.length >= 2 ? callArgs[0] : undefined;
        const identity = getAgentIdentity(extra?.authInfo);
        if (identity === undefined) return toolRefusal(guard.error("missing_token"));
        try {
          authorizeCall(identity, tool, args);
        } catch (e) {
          if (isGuardError(e)) return toolRefusal(e);
          throw e;
        }
        return handler(...callArgs);
      };
    },
  };
}
