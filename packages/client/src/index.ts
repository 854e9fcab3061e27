/**
 * `@agentwrit/client`: the agent side of AgentWrit. Runtime-neutral (Web Crypto Ed25519 and
 * `fetch`): Node, Bun, Deno, Workers.
 */
export { AgentWritApp, type AgentWritAppOptions, type CreateAgentOptions } from "./app.js";
export { Agent, type AgentFetchOptions } from "./agent.js";
export { registerAgent, type AgentRequest, type RegisterAgentOptions } from "./register.js";
export {
  DelegatedToken,
  delegateToken,
  releaseToken,
  renewToken,
  type DelegateOptions,
  type IssuedToken,
} from "./token-ops.js";
export { validate, type HealthStatus, type ValidateResult } from "./validate.js";
export {
  namedScopesOnly,
  stepUpByDelegation,
  stepUpWithNewAgent,
  type DelegationStepUpOptions,
  type NewAgentStepUpOptions,
  type StepUpGrant,
  type StepUpPolicy,
  type StepUpRequest,
} from "./step-up.js";
export { mcpTransportAuth, type McpTransportAuth } from "./mcp.js";
export { MAX_REDIRECTS } from "./fetch.js";
export type { AgentKey } from "./crypto.js";
export type { BrokerOptions, FetchFn } from "./http.js";
export {
  AgentWritError,
  AuthenticationError,
  AuthorizationError,
  CryptoError,
  ProblemResponseError,
  RateLimitError,
  TransportError,
  type ProblemDetail,
} from "./errors.js";
export { CLIENT_VERSION } from "./version.js";
export { scopeIsSubset, type AgentWritClaims, type DelegationRecord } from "@agentwrit/guard";
