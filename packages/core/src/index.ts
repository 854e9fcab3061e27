export { parseScope, isValidScope, scopeCovers, scopeIsSubset, type Scope } from "./scope.js";
export {
  computeChainHash,
  delegationSigningInput,
  formatRfc3339Nano,
  goJsonChain,
  type DelegationRecord,
} from "./delegation-record.js";
export { ed25519Kid, publicKeyToX, type Ed25519PublicJwk, type PublicKeyInput } from "./keys.js";
export { GuardError, isGuardError, GUARD_ERROR_CODES, type GuardErrorCode } from "./errors.js";
export { buildChallenge, quoteHeaderValue, PROBLEM_CONTENT_TYPE, type ProblemDetails } from "./challenge.js";
