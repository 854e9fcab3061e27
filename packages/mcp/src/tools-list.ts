/**
 * `tools/list` filtering for an SDK server: each agent sees only the tools its scope can call.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { McpGate } from "./gate.js";

type Handler = (request: unknown, extra: unknown) => Promise<unknown>;

/**
 * Wraps the server's `tools/list` handler so that its result lists only the tools
 * `gate.canSee(extra.authInfo, name)` allows (none without an AgentWrit `AuthInfo`). Call it
 * after registering the first tool. Listing is a courtesy, not the enforcement: calls are still
 * checked by the gate.
 *
 * The SDK (1.x) has no public hook for this, so it replaces the entry in the protocol's request
 * handler table; it throws a `TypeError` when that table or the `tools/list` handler is missing.
 * With a low-level `Server` and your own `tools/list` handler, call `gate.visibleTools(tools, extra.authInfo)` instead.
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the low-level Server is still a supported SDK 1.x API
export function filterToolsList(server: McpServer | Server, gate: McpGate): void {
  const low: unknown = "server" in server ? server.server : server;
  const handlers = (low as { readonly _requestHandlers?: unknown })._requestHandlers;
  const original = handlers instanceof Map ? (handlers.get("tools/list") as Handler | undefined) : undefined;
  if (!(handlers instanceof Map) || typeof original !== "function") {
    throw new TypeError("filterToolsList: the server has no tools/list handler (register a tool first)");
  }
  handlers.set("tools/list", async (request: unknown, extra: unknown): Promise<unknown> => {
    const result = (await original(request, extra)) as { readonly tools?: readonly { readonly name: string }[] };
    const authInfo = (extra as { readonly authInfo?: AuthInfo } | undefined)?.authInfo;
    return { ...result, tools: gate.visibleTools(result.tools ?? [], authInfo) };
  });
}
