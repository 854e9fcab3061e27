/**
 * An `OAuthTokenVerifier` for the SDK's own `requireBearerAuth` middleware.
 */
import { isGuard, isGuardError, type Guard } from "@agentwrit/guard";
import { InvalidRequestError, InvalidTokenError, ServerError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { toAuthInfo } from "./auth-info.js";
import { checkAudienceHasResource, resolveMcpGuard, resourceOf, type McpGuardOptions } from "./options.js";

export interface TokenVerifierOptions {
  /**
   * The server's canonical URI, reported as `AuthInfo.resource` when the token's `aud` names it
   * (so the SDK's `expectedResource` check can run too). Defaults to the options' `resource`.
   */
  readonly resource?: string | URL | undefined;
  /**
   * With a guard given as is and a `resource`, the guard's `audience` must contain the resource
   * (else a `TypeError`); `true` accepts a guard that does not.
   * @default false
   */
  readonly allowAudienceWithoutResource?: boolean | undefined;
}

/**
 * Verifies AgentWrit tokens for the MCP SDK (`requireBearerAuth({ verifier })`).
 *
 * Refusals become the SDK's error classes, which `requireBearerAuth` renders:
 * - every 401 reason (bad, expired, revoked, wrong audience…) → `InvalidTokenError` → 401;
 * - broker or key-set outage (core's 503) → `ServerError` → **500**, never 401: the SDK's
 *   middleware cannot send 503 or `Retry-After`; use this package's gate for that;
 * - anything else → `InvalidRequestError` → 400.
 *
 * The SDK middleware builds its own `WWW-Authenticate` (pass it `resourceMetadataUrl`), splits
 * the header itself, and only knows flat scope lists; for per-tool, argument-bound scopes and
 * 503s use {@link createMcpGate}.
 *
 * @example
 * app.post("/mcp", requireBearerAuth({
 *   verifier: agentwritTokenVerifier(guard, { resource: "https://mcp.example/mcp" }),
 *   resourceMetadataUrl: "https://mcp.example/.well-known/oauth-protected-resource/mcp",
 * }), handler);
 */
export function agentwritTokenVerifier(guardOrOptions: Guard | McpGuardOptions, options: TokenVerifierOptions = {}): OAuthTokenVerifier {
  const guard = resolveMcpGuard(guardOrOptions);
  const resource = resourceOf(guardOrOptions, options.resource);
  if (isGuard(guardOrOptions) && resource !== undefined && options.allowAudienceWithoutResource !== true) checkAudienceHasResource(guard.audience, resource);
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      try {
        const identity = await guard.authenticate("Bearer " + token);
        return toAuthInfo(token, identity, resource);
      } catch (e) {
        if (!isGuardError(e)) throw new ServerError("The token could not be checked.");
        if (e.status === 401) throw new InvalidTokenError(e.message);
        if (e.status === 503) throw new ServerError(e.message);
        throw new InvalidRequestError(e.message);
      }
    },
  };
}
