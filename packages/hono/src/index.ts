export {
  agentwritGuard,
  requireScope,
  requireAnyScope,
  type AgentWritVariables,
  type AgentWritEnv,
  type AgentWritContext,
} from "./middleware.js";
export { guarded, type GuardedHandler } from "./guarded.js";
export type { AgentWritHonoOptions } from "./guard-source.js";
export { checkRoutes } from "./check-routes.js";
export {
  anyOf,
  allOf,
  createGuard,
  compileRequirement,
  optionsFromEnv,
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
