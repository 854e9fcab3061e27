export { agentwrit, agentwrit as default, type AgentWritPluginOptions } from "./plugin.js";
export type { AgentWritHook, AgentWritRequest, AgentWritRouteConfig, AgentWritVerified } from "./augment.js";
export {
  anyOf,
  allOf,
  createGuard,
  compileRequirement,
  GuardError,
  isGuardError,
  GUARD_ENV_VARS,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardErrorCode,
  type GuardLogger,
  type GuardOptions,
  type ProblemDetails,
  type Requirement,
} from "@agentwrit/guard";
