/**
 * Hono glue (`@agentwrit/guard-mcp/hono`), Web APIs only: the gate as middleware in front of the
 * SDK's `WebStandardStreamableHTTPServerTransport`, and the RFC 9728 metadata endpoint.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { MiddlewareHandler } from "hono";
import type { McpGate } from "./gate.js";
import { toWebResponse } from "./http.js";
import { metadataEndpoint, type ProtectedResourceMetadata, type ProtectedResourceMetadataOptions } from "./metadata.js";

/** Context variables set by {@link mcpGate}. */
export interface McpGateVariables {
  /** Hand to the transport: `transport.handleRequest(c.req.raw, { authInfo, parsedBody })`. */
  readonly authInfo: AuthInfo;
  /** The checked JSON-RPC body (`undefined` for GET and DELETE). */
  readonly mcpParsedBody: unknown;
}

/**
 * Authenticates every request, checks its `Mcp-Session-Id` against the agent that started the
 * session, reads the body (bounded) and checks every message that touches data before the
 * handler runs. The body is read here: give the transport `c.var.mcpParsedBody`.
 *
 * @example
 * app.all("/mcp", mcpGate(gate), (c) =>
 *   transport.handleRequest(c.req.raw, { authInfo: c.var.authInfo, parsedBody: c.var.mcpParsedBody }));
 */
export function mcpGate(gate: McpGate): MiddlewareHandler<{ Variables: McpGateVariables }> {
  return async (c, next) => {
    const result = await gate.checkRequest(c.req.raw);
    if (!result.ok) return result.response;
    c.set("authInfo", result.authInfo);
    c.set("mcpParsedBody", result.parsedBody);
    await next();
    // The response is not sent yet: a session it starts is bound before the client sees its id.
    gate.sessions.observe(result, c.res.status, c.res.headers.get("mcp-session-id"));
    return undefined;
  };
}

/**
 * Serves the RFC 9728 document at its well-known paths: `app.use(protectedResourceMetadataHandler(...))`.
 */
export function protectedResourceMetadataHandler(options: ProtectedResourceMetadataOptions | ProtectedResourceMetadata): MiddlewareHandler {
  const endpoint = metadataEndpoint(options);
  return async (c, next) => {
    const r = endpoint.respond(c.req.method, c.req.path);
    if (r === undefined) {
      await next();
      return undefined;
    }
    return toWebResponse(r);
  };
}
