export {
  agentwritGuard,
  requireScope,
  requireAnyScope,
  type AgentWritExpressOptions,
  type AgentWritMiddleware,
  type AgentWritGuardInput,
} from "./middleware.js";
export type { AgentWritRequest } from "./augment.js";
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
  type GuardOptions,
  type ProblemDetails,
  type Requirement,
} from "@agentwrit/guard";
