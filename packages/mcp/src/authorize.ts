/**
 * Deciding a request's messages with core's rules, with work bounded by the request's size:
 *
 * 1. every value bound into any requirement of any message is checked (length, unsafe
 *    characters) before any scope work, so one bad value is a 400 at the cost of reading it;
 * 2. the messages are checked through the guard (decision events, logs) until the first refusal;
 *    after it, the rest are only evaluated to collect their missing scopes: no error object, no
 *    event per message;
 * 3. one 403 names the missing scopes of every refused message (core caps the challenge).
 */
import {
  checkRequirementParams,
  evaluateRequirement,
  GUARD_ERROR_CODES,
  isGuardError,
  type AgentIdentity,
  type CompiledRequirement,
  type Guard,
  type GuardError,
  type GuardErrorCode,
} from "@agentwrit/guard";
import type { Check, Resolution } from "./entries.js";

/** The gate's own limits (they also reach the guard when the gate builds it). */
export interface AuthorizeLimits {
  readonly maxParamLength: number;
  /** Set when the gate must cap challenges itself (a guard given as is, with an explicit gate option). */
  readonly maxChallengeScopes: number | undefined;
}

const UNLISTED_REASON = {
  tools: "the tool has no entry in the gate's tools map (unlistedTools: \"deny\")",
  resources: "the resource URI matches no entry of the gate's resources map (unlistedResources: \"deny\")",
  prompts: "the prompt has no entry in the gate's prompts map (unlistedPrompts: \"deny\")",
} as const;

function requirementOf(check: Check): CompiledRequirement | undefined {
  return check.requirement ?? (check.family ? check.entry.family : check.entry.compiled);
}

/** A refusal thrown by core's `evaluateRequirement` (an internal object with a code and a reason). */
function refusalOf(e: unknown): { code: GuardErrorCode; reason: string | undefined } {
  const o = (typeof e === "object" && e !== null ? e : {}) as { code?: unknown; reason?: unknown };
  const code = typeof o.code === "string" && Object.hasOwn(GUARD_ERROR_CODES, o.code) ? (o.code as GuardErrorCode) : "invalid_parameter";
  return { code, reason: typeof o.reason === "string" ? o.reason : undefined };
}

export class Authorizer {
  constructor(
    readonly guard: Guard,
    readonly limits: AuthorizeLimits,
  ) {}

  /** A refusal with the guard's realm and resource metadata, capped as the gate says. */
  error(code: GuardErrorCode, init: { scope?: readonly string[]; reason?: string } = {}): GuardError {
    const cap = this.limits.maxChallengeScopes;
    return this.guard.error(code, cap === undefined ? init : { ...init, maxChallengeScopes: cap });
  }

  /** Step 1 for one check: `undefined` when its values are fine, else the 400 (or 500) to answer. */
  #values(identity: AgentIdentity, check: Check): GuardError | undefined {
    const requirement = requirementOf(check);
    if (requirement === undefined || requirement.params.length === 0) return undefined;
    try {
      // The values only (no scope work): the guard evaluates the requirement once, in step 2.
      checkRequirementParams(requirement, check.params, { maxParamLength: this.limits.maxParamLength, label: check.entry.context.route });
      return undefined;
    } catch (e) {
      // Through the guard when it agrees (one decision event, one log line); else the gate's own.
      try {
        this.guard.authorize(identity, requirement, check.params, check.entry.context);
      } catch (g) {
        if (isGuardError(g) && g.code !== "insufficient_scope") return g;
      }
      const { code, reason } = refusalOf(e);
      return this.error(code, reason === undefined ? {} : { reason });
    }
  }

  /** One message: throws the `GuardError` refusing it (handler wrappers). */
  one(identity: AgentIdentity, resolution: Resolution): void {
    if ("invalid" in resolution) throw this.error("invalid_parameter", { reason: resolution.invalid });
    if ("unlisted" in resolution) throw this.error("insufficient_scope", { reason: UNLISTED_REASON[resolution.unlisted] });
    for (const check of resolution.checks) {
      const bad = this.#values(identity, check);
      if (bad !== undefined) throw bad;
    }
    for (const check of resolution.checks) {
      const requirement = requirementOf(check);
      if (requirement !== undefined) this.guard.authorize(identity, requirement, check.params, check.entry.context);
    }
  }

  /** Every message of a request: `undefined` when all are allowed, else the one refusal to answer with. */
  all(identity: AgentIdentity, resolutions: readonly Resolution[]): GuardError | undefined {
    for (const r of resolutions) {
      if (!("checks" in r)) continue;
      for (const check of r.checks) {
        const bad = this.#values(identity, check);
        if (bad !== undefined) return bad;
      }
    }
    let first: GuardError | undefined;
    let refused = false;
    let unlisted: "tools" | "resources" | "prompts" | undefined;
    const missing = new Set<string>();
    for (const r of resolutions) {
      if ("unlisted" in r) {
        refused = true;
        unlisted ??= r.unlisted;
        continue;
      }
      if (!("checks" in r)) continue;
      for (const check of r.checks) {
        const requirement = requirementOf(check);
        if (requirement === undefined) continue;
        if (first === undefined) {
          try {
            this.guard.authorize(identity, requirement, check.params, check.entry.context);
          } catch (e) {
            if (!isGuardError(e)) throw e;
            if (e.code !== "insufficient_scope") return e;
            first = e;
            refused = true;
            for (const s of e.scope) missing.add(s);
          }
          continue;
        }
        const result = evaluateRequirement(requirement, identity.scope, check.params, { maxParamLength: this.limits.maxParamLength });
        if (!result.satisfied) {
          refused = true;
          for (const s of result.missing) missing.add(s);
        }
      }
    }
    if (!refused) return undefined;
    if (first !== undefined && missing.size === first.scope.length && unlisted === undefined && this.limits.maxChallengeScopes === undefined) return first;
    const reason =
      missing.size === 0 && unlisted !== undefined
        ? UNLISTED_REASON[unlisted]
        : `the agent lacks ${String(missing.size)} scope(s) for the request's messages${unlisted === undefined ? "" : "; " + UNLISTED_REASON[unlisted]}`;
    return this.error("insufficient_scope", { scope: [...missing], reason });
  }
}
