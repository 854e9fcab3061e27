/**
 * List filtering for an SDK server (each agent sees only the tools, prompts, resources, resource
 * templates and completion values it could use) and the startup audit of a server's registrations against
 * the gate's maps. Listing is a courtesy, not the enforcement: every use is still checked.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import type { NamedRequirements } from "./entries.js";
import type { CompletionRef, McpGate } from "./gate.js";
import type { GateLog } from "./log.js";
import type { ResourceRequirements } from "./resources.js";

type Handler = (request: unknown, extra: unknown) => Promise<unknown>;
type Who = AuthInfo | undefined;

/** The registered names with no entry in the gate's maps. */
export interface McpAudit {
  readonly tools: readonly string[];
  readonly prompts: readonly string[];
  /** Fixed resource URIs no entry matches. */
  readonly resources: readonly string[];
  /** Resource templates that are not a key of the map. */
  readonly resourceTemplates: readonly string[];
}

// eslint-disable-next-line @typescript-eslint/no-deprecated -- the low-level Server is still a supported SDK 1.x API
type AnyServer = McpServer | Server;

const LISTS = {
  "tools/list": (gate: McpGate, r: { tools?: readonly { readonly name: string }[] }, who: Who) => ({ ...r, tools: gate.visibleTools(r.tools ?? [], who) }),
  "prompts/list": (gate: McpGate, r: { prompts?: readonly { readonly name: string }[] }, who: Who) => ({ ...r, prompts: gate.visiblePrompts(r.prompts ?? [], who) }),
  "resources/list": (gate: McpGate, r: { resources?: readonly Pick<Resource, "uri">[] }, who: Who) => ({ ...r, resources: gate.visibleResources(r.resources ?? [], who) }),
  "resources/templates/list": (gate: McpGate, r: { resourceTemplates?: readonly Pick<ResourceTemplate, "uriTemplate">[] }, who: Who) => ({
    ...r,
    resourceTemplates: gate.visibleResourceTemplates(r.resourceTemplates ?? [], who),
  }),
  // The SDK's completers are not told who asks: the values go through the same scopes as a use.
  "completion/complete": (gate: McpGate, r: { completion?: Completion }, who: Who, request: unknown) => {
    const completion = r.completion;
    if (completion === undefined || !Array.isArray(completion.values)) return r;
    type Params = { readonly ref?: CompletionRef; readonly argument?: { readonly name?: unknown }; readonly context?: { readonly arguments?: Record<string, unknown> } };
    const params = (request as { readonly params?: Params } | undefined)?.params;
    const argument = params?.argument?.name;
    const context = params?.context?.arguments;
    const values =
      params?.ref === undefined || typeof argument !== "string" ? [] : gate.visibleCompletions(params.ref, argument, completion.values, who, typeof context === "object" ? context : undefined);
    if (values.length === completion.values.length) return r;
    // `total` would count the values withheld.
    const { total: _withheld, ...rest } = completion;
    return { ...r, completion: { ...rest, values } };
  },
} as const;

/** A `completion/complete` result's `completion`. */
interface Completion {
  readonly values: readonly string[];
  readonly total?: number;
  readonly hasMore?: boolean;
}

type ListMethod = keyof typeof LISTS;

function handlersOf(server: AnyServer): Map<string, unknown> | undefined {
  const low: unknown = "server" in server ? server.server : server;
  const handlers = (low as { readonly _requestHandlers?: unknown })._requestHandlers;
  return handlers instanceof Map ? (handlers as Map<string, unknown>) : undefined;
}

function wrapList(handlers: Map<string, unknown>, method: ListMethod, gate: McpGate): boolean {
  const original = handlers.get(method);
  if (typeof original !== "function") return false;
  const filter = LISTS[method];
  handlers.set(method, async (request: unknown, extra: unknown): Promise<unknown> => {
    const result = (await (original as Handler)(request, extra)) as object;
    return filter(gate, result, (extra as { readonly authInfo?: AuthInfo } | undefined)?.authInfo, request);
  });
  return true;
}

/**
 * Wraps the server's list handlers (`tools/list`, `prompts/list`, `resources/list`,
 * `resources/templates/list`, `completion/complete`, whichever are registered) so that each lists
 * only what the caller could use (nothing without an AgentWrit `AuthInfo`): a completion keeps
 * the values the caller could get the prompt or read the template with. Then it audits the
 * server's registrations against the maps (`gate.audit`). Call it once, after registering everything.
 *
 * The SDK (1.x) has no public hook for this, so it replaces entries in the protocol's request
 * handler table; it throws a `TypeError` when that table or every list handler is missing. With a
 * low-level `Server` and your own list handlers, call `gate.visibleTools(…)` and its siblings instead.
 */
export function filterLists(server: AnyServer, gate: McpGate): void {
  const handlers = handlersOf(server);
  const wrapped = handlers === undefined ? [] : (Object.keys(LISTS) as ListMethod[]).filter((m) => wrapList(handlers, m, gate));
  if (wrapped.length === 0) throw new TypeError("filterLists: the server has no list handler (register a tool, resource or prompt first)");
  gate.audit(server);
}

/**
 * `filterLists` for `tools/list` only.
 * @throws TypeError when the server has no `tools/list` handler (register a tool first)
 */
export function filterToolsList(server: AnyServer, gate: McpGate): void {
  const handlers = handlersOf(server);
  if (handlers === undefined || !wrapList(handlers, "tools/list", gate)) {
    throw new TypeError("filterToolsList: the server has no tools/list handler (register a tool first)");
  }
  gate.audit(server);
}

function ownKeys(x: unknown): string[] {
  return typeof x === "object" && x !== null ? Object.keys(x) : [];
}

/** The gate's maps, as `auditServer` reads them. */
export interface AuditedMaps {
  readonly tools: NamedRequirements;
  readonly prompts: NamedRequirements;
  readonly resources: ResourceRequirements;
}

/** Reads an `McpServer`'s registrations (nothing for a low-level `Server`) and reports what the maps miss. */
export function auditServer(server: object, maps: AuditedMaps, log: GateLog): McpAudit {
  const s = server as {
    readonly _registeredTools?: unknown;
    readonly _registeredPrompts?: unknown;
    readonly _registeredResources?: unknown;
    readonly _registeredResourceTemplates?: unknown;
  };
  const tools = ownKeys(s._registeredTools).filter((name) => maps.tools.get(name) === undefined);
  const prompts = ownKeys(s._registeredPrompts).filter((name) => maps.prompts.get(name) === undefined);
  const resources = ownKeys(s._registeredResources).filter((uri) => {
    const r = maps.resources.resolve(uri);
    return "unlisted" in r || ("checks" in r && r.checks.length === 0);
  });
  const templates: string[] = [];
  if (typeof s._registeredResourceTemplates === "object" && s._registeredResourceTemplates !== null) {
    for (const t of Object.values(s._registeredResourceTemplates as Record<string, unknown>)) {
      const template = (t as { resourceTemplate?: { uriTemplate?: { toString(): string } } } | undefined)?.resourceTemplate?.uriTemplate;
      const text = template?.toString();
      if (text !== undefined && maps.resources.get(text) === undefined) templates.push(text);
    }
  }
  for (const name of tools) log.unmapped("tool", name, maps.tools.policy === "allow");
  for (const name of prompts) log.unmapped("prompt", name, maps.prompts.policy === "allow");
  for (const uri of resources) log.unmapped("resource", uri, maps.resources.policy === "allow");
  for (const t of templates) log.unmapped("resource template", t, maps.resources.policy === "allow");
  return { tools, prompts, resources, resourceTemplates: templates };
}
