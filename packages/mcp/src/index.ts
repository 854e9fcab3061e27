/**
 * `@agentwrit/guard-mcp`: AgentWrit agent tokens for MCP servers on `@modelcontextprotocol/sdk`.
 * Framework-neutral; Express and Hono glue live in `./express` and `./hono`.
 */
export { agentwritTokenVerifier, type TokenVerifierOptions } from "./verifier.js";
export { toAuthInfo, getAgentIdentity, AGENTWRIT_EXTRA_KEY } from "./auth-info.js";
export { createMcpGuard, resolveMcpGuard, type McpGuardOptions } from "./options.js";
export {
  createMcpGate,
  toolRefusal,
  type McpGate,
  type McpGateOptions,
  type ToolScopeMap,
  type UnlistedToolsPolicy,
  type GateAuthentication,
  type GateResult,
  type FetchGateResult,
  type ToolRefusal,
} from "./gate.js";
export { filterToolsList } from "./tools-list.js";
export {
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
  protectedResourceMetadataPaths,
  protectedResourceMetadataResponse,
  metadataEndpoint,
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataOptions,
  type MetadataEndpoint,
} from "./metadata.js";
export { toWebResponse, type HttpResponse } from "./http.js";
export { inspectBody, type ToolCall, type Inspection } from "./json-rpc.js";
