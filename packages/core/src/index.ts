export { createGuard, type Guard, type VerifyContext, type GuardDescription, type ProbeResult } from "./guard.js";
export { consoleLogger, logGuardConfiguration, type GuardLogger } from "./log.js";
export { TELEMETRY, type OpenTelemetryApi, type TelemetryOptions } from "./telemetry.js";
export { bearerToken } from "./bearer.js";
export { readCappedText } from "./body.js";
export { envLine, pemEnvLine, envCommentLine, publicKeyEnvLines } from "./env-lines.js";
export type { GuardOptions, GuardMode, DecisionEvent } from "./options.js";
export type { AgentIdentity, DecisionSource } from "./identity.js";
export type { AgentWritClaims } from "./claims.js";
export type { AllowedDelegators, DelegatorPredicate } from "./delegation.js";
export { parseScope, isValidScope, scopeCovers, scopeIsSubset, type Scope } from "./scope.js";
export {
  anyOf,
  allOf,
  compileRequirement,
  requirementFamily,
  checkRequirementParams,
  evaluateRequirement,
  isCompiledRequirement,
  isRequirement,
  type Requirement,
  type RequirementParams,
  type RequirementResult,
  type CompiledRequirement,
  type AllOf,
  type AnyOf,
  type EvaluateOptions,
  type ParamSource,
} from "./requirement.js";
export {
  computeChainHash,
  delegationSigningInput,
  formatRfc3339Nano,
  goJsonChain,
  type DelegationRecord,
} from "./delegation-record.js";
export { ed25519Kid, publicKeyToX, type Ed25519PublicJwk, type KeyObjectLike, type PublicKeyInput } from "./keys.js";
export {
  GuardError,
  isGuardError,
  statusOf,
  GUARD_ERROR_CODES,
  type GuardErrorCode,
  type GuardErrorInit,
  type GuardErrorStatus,
  type BearerErrorCode,
} from "./errors.js";
export {
  buildChallenge,
  buildProblem,
  quoteHeaderValue,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_PREFIX,
  type ProblemDetails,
} from "./challenge.js";
export { parseWwwAuthenticate, parseBearerChallenge, MAX_CHALLENGE_HEADER_LENGTH, type ParsedChallenge, type BearerChallenge } from "./challenge-parse.js";
export {
  GUARD_ENV_VARS,
  optionsFromEnv,
  isGuard,
  resolveGuard,
  guardFromEnv,
  routeParamNames,
  placeholdersMissingFromRoute,
  routeVerifyContext,
  markRouteRequirement,
  guardedArgs,
  asNextError,
  checkRouteTable,
  type RouteTableEntry,
  splitAdapterOptions,
  toErrorResponse,
  authorizationFromRawHeaders,
  WiringReport,
  type ErrorResponse,
} from "./adapter-support.js";
