export {
  agentwritGuard,
  requireScope,
  requireAnyScope,
  type AgentWritExpressOptions,
  type AgentWritMiddleware,
  type AgentWritGuardInput,
} from "./middleware.js";
export { guarded, type GuardedRequestHandler } from "./guarded.js";
export { checkRoutes } from "./check-routes.js";
export type { AgentWritRequest, AgentWritVerified } from "./augment.js";
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
