/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata for an MCP server, framework-neutral: the
 * document, where it is served, and a ready-to-send response.
 */
import type { HttpResponse } from "./http.js";

/** The RFC 9728 §2 document (the fields an MCP server uses; extra members are allowed). */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers?: readonly string[];
  readonly scopes_supported?: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly resource_signing_alg_values_supported?: readonly string[];
  readonly resource_name?: string;
  readonly resource_documentation?: string;
  readonly [member: string]: unknown;
}

export interface ProtectedResourceMetadataOptions {
  /** The MCP server's canonical URI, e.g. `https://mcp.example/mcp`: the document's `resource`. */
  readonly resource: string | URL;
  /**
   * Issuer URLs of OAuth authorization servers that issue tokens for this server. The AgentWrit
   * broker is not an OAuth authorization server, so there is no default: list one only when an
   * OAuth front (gateway) issues AgentWrit tokens. MCP clients that run OAuth discovery need it.
   */
  readonly authorizationServers?: readonly (string | URL)[];
  /**
   * Scopes clients may request. Omitted by default: AgentWrit scopes are per resource
   * (`read:records:patient-42`) and rarely enumerable. Never list `offline_access`.
   */
  readonly scopesSupported?: readonly string[];
  readonly resourceName?: string;
  readonly resourceDocumentation?: string | URL;
  /** Additional members, e.g. `{ agentwrit_broker: "https://broker.example" }`. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

function urlOf(value: string | URL, name: string): URL {
  try {
    return new URL(typeof value === "string" ? value : value.href);
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
}

/**
 * The path-aware RFC 9728 §3.1 metadata URL of a resource (the same rule as the SDK's
 * `getOAuthProtectedResourceMetadataUrl`): `https://mcp.example/mcp` →
 * `https://mcp.example/.well-known/oauth-protected-resource/mcp`.
 */
export function protectedResourceMetadataUrl(resource: string | URL): string {
  const url = urlOf(resource, "resource");
  const path = url.pathname === "/" ? "" : url.pathname;
  return new URL(WELL_KNOWN + path, url.origin).href;
}

/**
 * The request paths at which the document is served: the path-aware form
 * (`/.well-known/oauth-protected-resource/mcp`) and, for clients that only try the root, the
 * plain `/.well-known/oauth-protected-resource`.
 */
export function protectedResourceMetadataPaths(resource: string | URL): readonly string[] {
  const url = urlOf(resource, "resource");
  const path = url.pathname === "/" ? "" : url.pathname;
  return path === "" ? [WELL_KNOWN] : [WELL_KNOWN + path, WELL_KNOWN];
}

/**
 * Builds the RFC 9728 document.
 *
 * @example
 * protectedResourceMetadata({ resource: "https://mcp.example/mcp", resourceName: "Records" })
 * // { resource: "https://mcp.example/mcp", bearer_methods_supported: ["header"], resource_name: "Records" }
 * @throws TypeError for a malformed URL or an `offline_access` scope
 */
export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): ProtectedResourceMetadata {
  const resource = typeof options.resource === "string" ? options.resource : options.resource.href;
  const parsed = urlOf(resource, "resource");
  if (parsed.hash !== "" || resource.includes("#")) throw new TypeError("resource must not have a fragment");
  const doc: Record<string, unknown> = { ...options.extra, resource, bearer_methods_supported: ["header"] };
  if (options.authorizationServers !== undefined) {
    doc.authorization_servers = options.authorizationServers.map((a) => urlOf(a, "authorizationServers[]").href.replace(/\/$/, ""));
  }
  if (options.scopesSupported !== undefined) {
    if (options.scopesSupported.includes("offline_access")) throw new TypeError("scopesSupported must not list offline_access");
    doc.scopes_supported = [...options.scopesSupported];
  }
  if (options.resourceName !== undefined) doc.resource_name = options.resourceName;
  if (options.resourceDocumentation !== undefined) doc.resource_documentation = urlOf(options.resourceDocumentation, "resourceDocumentation").href;
  return Object.freeze(doc) as ProtectedResourceMetadata;
}

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, OPTIONS",
} as const;

/**
 * The response for a request to a metadata path: 200 JSON for GET and HEAD, 204 for a CORS
 * preflight, 405 otherwise. The document is public, so any origin may read it.
 */
export function protectedResourceMetadataResponse(metadata: ProtectedResourceMetadata, method: string): HttpResponse {
  const m = method.toUpperCase();
  if (m === "OPTIONS") return { status: 204, headers: { ...CORS, "Access-Control-Max-Age": "86400" }, body: "" };
  if (m !== "GET" && m !== "HEAD") {
    return {
      status: 405,
      headers: { ...CORS, Allow: "GET, HEAD, OPTIONS", "Content-Type": "application/json" },
      body: JSON.stringify({ error: "method_not_allowed" }),
    };
  }
  return {
    status: 200,
    headers: { ...CORS, "Content-Type": "application/json", "Cache-Control": "public, max-age=3600" },
    body: m === "HEAD" ? "" : JSON.stringify(metadata),
  };
}

/** A matcher and responder for the metadata paths of one resource (used by the adapters). */
export interface MetadataEndpoint {
  readonly metadata: ProtectedResourceMetadata;
  readonly paths: readonly string[];
  /** The response for `method path`, or `undefined` when `path` is not a metadata path. */
  respond(method: string, path: string): HttpResponse | undefined;
}

/** Builds the document once and answers requests for its paths. */
export function metadataEndpoint(options: ProtectedResourceMetadataOptions | ProtectedResourceMetadata): MetadataEndpoint {
  const metadata = "bearer_methods_supported" in options ? options : protectedResourceMetadata(options);
  const paths = protectedResourceMetadataPaths(metadata.resource);
  return {
    metadata,
    paths,
    respond: (method, path) => (paths.includes(path) ? protectedResourceMetadataResponse(metadata, method) : undefined),
  };
}
