/**
 * The AgentWrit identity as the MCP SDK's `AuthInfo`, which the SDK hands to tool handlers as
 * `extra.authInfo`.
 */
import type { AgentIdentity } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";

/** The key of `AuthInfo.extra` that holds the full `AgentIdentity`. */
export const AGENTWRIT_EXTRA_KEY = "agentwrit";

/**
 * Builds an `AuthInfo`: `clientId` = the agent's SPIFFE ID, `scopes` = its scopes, `expiresAt` =
 * `exp` in seconds (always set), `resource` = the server's canonical URI when the token's `aud`
 * names it, `extra.agentwrit` = the full identity (claims, delegation chain, task and orch ids).
 */
export function toAuthInfo(token: string, identity: AgentIdentity, resource?: string): AuthInfo {
  const info: AuthInfo = {
    token,
    clientId: identity.agentId,
    scopes: [...identity.scope],
    expiresAt: Math.floor(identity.expiresAt.getTime() / 1000),
    extra: { [AGENTWRIT_EXTRA_KEY]: identity },
  };
  if (resource !== undefined && identity.audience.includes(resource)) info.resource = new URL(resource);
  return info;
}

function looksLikeIdentity(x: unknown): x is AgentIdentity {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.agentId === "string" && Array.isArray(o.scope) && o.expiresAt instanceof Date && typeof o.jti === "string";
}

/**
 * The AgentWrit identity behind an `AuthInfo` made by this package (`extra.agentwrit`), or
 * `undefined` for any other `AuthInfo` (or none).
 *
 * @example
 * server.registerTool("whoami", {}, (extra) => {
 *   const agent = getAgentIdentity(extra.authInfo);
 *   return { content: [{ type: "text", text: agent?.agentId ?? "anonymous" }] };
 * });
 */
export function getAgentIdentity(authInfo: AuthInfo | undefined): AgentIdentity | undefined {
  const value = authInfo?.extra?.[AGENTWRIT_EXTRA_KEY];
  return looksLikeIdentity(value) ? value : undefined;
}
