/**
 * MCP client auth: the agent's token for the MCP SDK's `StreamableHTTPClientTransport`, through
 * its `fetch` option. Every request of the transport (initialize, tools/list, tools/call, the SSE
 * GET) goes through `agent.fetch`: the token reaches the MCP server's origin only, is renewed when
 * due and after a 401 `invalid_token`, and a 403 `insufficient_scope` from a tool call goes to the
 * agent's step-up policy and is retried once. No OAuth provider is involved: AgentWrit tokens come
 * from the broker, not from an authorization server.
 */
import type { Agent } from "./agent.js";
import { AgentWritError } from "./errors.js";
import type { FetchFn } from "./http.js";

/** Options to spread into `new StreamableHTTPClientTransport(url, { ...options })`. */
export interface McpTransportAuth {
  readonly fetch: FetchFn;
}

/**
 * ```ts
 * const transport = new StreamableHTTPClientTransport(url, mcpTransportAuth(agent, url));
 * ```
 * Throws when the server's origin is not one of the agent's `allowedOrigins`.
 */
export function mcpTransportAuth(agent: Agent, serverUrl: string | URL): McpTransportAuth {
  const origin = new URL(serverUrl).origin;
  if (!agent.allowedOrigins.includes(origin)) {
    throw new AgentWritError(`mcpTransportAuth: ${origin} is not one of the agent's allowedOrigins`);
  }
  return { fetch: agent.fetch };
}
