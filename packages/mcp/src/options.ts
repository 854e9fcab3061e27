/**
 * Guard configuration for an MCP server: the server's canonical URI (RFC 8707 `resource`) bound
 * into the guard's accepted audience and into its RFC 9728 `resource_metadata` challenge URL.
 */
import { createGuard, isGuard, type Guard, type GuardOptions } from "@agentwrit/guard";
import { protectedResourceMetadataUrl } from "./metadata.js";

/** Guard options plus the MCP server's identity. */
export interface McpGuardOptions extends GuardOptions {
  /**
   * The MCP server's canonical URI, e.g. `https://mcp.example/mcp` (MCP authorization spec,
   * RFC 8707). Used as the accepted `aud` (see `requireAudience`), as `AuthInfo.resource`, and to
   * derive `resourceMetadataUrl` (the path-aware RFC 9728 URL) when that is not given.
   */
  readonly resource?: string | URL | undefined;
  /**
   * Require `resource` in the token's `aud` (the MCP spec's audience validation). Ignored when
   * `audience` is given (that list is used as is) or `resource` is not.
   * @default true
   */
  readonly requireAudience?: boolean | undefined;
  /**
   * With `resource`, an explicit `audience` must contain it (else a `TypeError`): a server for
   * `resource` that accepts tokens meant only for other audiences is almost always a mistake.
   * `true` accepts such a configuration deliberately.
   * @default false
   */
  readonly allowAudienceWithoutResource?: boolean | undefined;
}

/**
 * Checks and returns a canonical resource URI as a string: an absolute `http(s)` URL without
 * credentials or fragment. The string is kept as written, because `aud` is compared exactly.
 */
export function canonicalResource(resource: string | URL, name = "resource"): string {
  const text = typeof resource === "string" ? resource : resource.href;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`${name} must be an absolute URL (the MCP server's canonical URI)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`${name} must be an http(s) URL`);
  if (url.username !== "" || url.password !== "") throw new TypeError(`${name} must not carry credentials`);
  if (url.hash !== "" || text.includes("#")) throw new TypeError(`${name} must not have a fragment`);
  return text;
}

/**
 * Creates a guard for an MCP server: `createGuard` with `audience` defaulting to `resource` and
 * `resourceMetadataUrl` defaulting to `resource`'s path-aware protected-resource metadata URL.
 *
 * @example
 * const guard = createMcpGuard({
 *   brokerUrl: process.env.AGENTWRIT_BROKER_URL,
 *   publicKey: process.env.AGENTWRIT_PUBLIC_KEY,
 *   resource: "https://mcp.example/mcp",
 * });
 * // audience: "https://mcp.example/mcp"
 * // resourceMetadataUrl: "https://mcp.example/.well-known/oauth-protected-resource/mcp"
 * @throws TypeError on any misconfiguration
 */
export function createMcpGuard(options: McpGuardOptions): Guard {
  const { resource, requireAudience, allowAudienceWithoutResource, ...guardOptions } = options;
  if (requireAudience !== undefined && typeof requireAudience !== "boolean") throw new TypeError("requireAudience must be a boolean");
  if (allowAudienceWithoutResource !== undefined && typeof allowAudienceWithoutResource !== "boolean") {
    throw new TypeError("allowAudienceWithoutResource must be a boolean");
  }
  if (resource === undefined) return createGuard(guardOptions);
  const canonical = canonicalResource(resource);
  if (guardOptions.audience !== undefined && allowAudienceWithoutResource !== true) {
    checkAudienceHasResource(typeof guardOptions.audience === "string" ? [guardOptions.audience] : guardOptions.audience, canonical);
  }
  const audience = guardOptions.audience ?? (requireAudience === false ? undefined : canonical);
  const resourceMetadataUrl = guardOptions.resourceMetadataUrl ?? protectedResourceMetadataUrl(canonical);
  return createGuard({ ...guardOptions, ...(audience === undefined ? {} : { audience }), resourceMetadataUrl });
}

/**
 * A guard for `resource` must accept tokens for it: an `audience` that does not contain the
 * resource is a `TypeError` (`allowAudienceWithoutResource: true` is the deliberate way out).
 */
export function checkAudienceHasResource(audience: readonly string[] | undefined, resource: string): void {
  if (audience === undefined) {
    throw new TypeError(
      `the guard does not check the token audience, so this MCP server (${resource}) would accept tokens meant for any resource server of the broker. ` +
        "Give the guard audience: resource (createMcpGuard does it from `resource`), or set allowAudienceWithoutResource: true.",
    );
  }
  if (!audience.includes(resource)) {
    throw new TypeError(
      `audience ${JSON.stringify(audience)} does not contain the MCP server's resource ${JSON.stringify(resource)}: tokens issued for this server would be refused ` +
        "and tokens meant for another API accepted. Put the resource in audience, or set allowAudienceWithoutResource: true.",
    );
  }
}

/** A guard given as is, or one made by {@link createMcpGuard} from options. */
export function resolveMcpGuard(input: Guard | McpGuardOptions): Guard {
  if (isGuard(input)) return input;
  if (typeof input !== "object" || (input as unknown) === null) throw new TypeError("pass a guard (createGuard) or guard options");
  return createMcpGuard(input);
}

/** The resource URI from options, when they carry one. */
export function resourceOf(input: Guard | McpGuardOptions, explicit: string | URL | undefined): string | undefined {
  if (explicit !== undefined) return canonicalResource(explicit);
  if (isGuard(input) || input.resource === undefined) return undefined;
  return canonicalResource(input.resource);
}
