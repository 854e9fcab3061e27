import type { GuardErrorCode } from "./errors.js";

/**
 * An internal, allocation-light refusal. Verification code returns or throws these; the guard
 * turns them into a `GuardError` (with realm and resource metadata) at its public boundary.
 * Not an `Error`, so a flood of forged tokens costs no stack traces.
 */
export class Refusal {
  constructor(
    readonly code: GuardErrorCode,
    readonly cause?: unknown,
    readonly scope?: readonly string[],
  ) {}
}

export function refuse(code: GuardErrorCode, cause?: unknown, scope?: readonly string[]): never {
  throw new Refusal(code, cause, scope);
}
