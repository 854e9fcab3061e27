/**
 * `@agentwrit/guard-mcp`: AgentWrit agent tokens for MCP servers on `@modelcontextprotocol/sdk`.
 * Framework-neutral; Express and Hono glue live in `./express` and `./hono`.
 */
export type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
export { agentwritTokenVerifier, type TokenVerifierOptions } from "./verifier.js";
export { toAuthInfo, getAgentIdentity, AGENTWRIT_EXTRA_KEY } from "./auth-info.js";
export { createMcpGuard, resolveMcpGuard, type McpGuardOptions } from "./options.js";
export {
  createMcpGate,
  type McpGate,
  type GateAuthentication,
  type GateResult,
  type GatePass,
  type GateRefusal,
  type GateBody,
  type GateHttpRequest,
  type FetchGateResult,
  type CompletionRef,
} from "./gate.js";
export type { McpGateOptions, ToolScopeMap, PromptScopeMap, UnlistedToolsPolicy } from "./gate-options.js";
export { ANY_AGENT, type McpRequirement, type UnlistedPolicy } from "./entries.js";
export { MAX_URI_LENGTH, type ResourceScopeMap } from "./resources.js";
export { toolRefusal, mcpRefusal, type ToolRefusal } from "./wrap.js";
export { filterLists, filterToolsList, type McpAudit } from "./lists.js";
export { sessionNotFoundResponse, type McpSessions, type SessionRequest, type SessionTransport } from "./sessions.js";
export { readNodeBody, readWebBody, DEFAULT_MAX_BODY_BYTES, DEFAULT_BODY_TIMEOUT_MS, type BodyLimits, type BodyRead, type BodyFailure, type NodeBodyStream } from "./body.js";
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
export { inspectBody, DEFAULT_MAX_BATCH_SIZE, type ToolCall, type GatedMessage, type Inspection, type InspectOptions } from "./json-rpc.js";
