/**
 * Scope step-up, opt-in. When a resource server refuses a request with
 * `403`, `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`, `agent.fetch` asks the
 * agent's policy for a token that covers those scopes and retries the request once with it. The
 * policy decides; without one, or when it declines, the 403 is the answer. Nothing is ever
 * widened silently: the only tokens used are the agent's own and the ones its policy returned.
 */
import { parseScope, scopeIsSubset } from "@agentwrit/guard";
import type { Agent } from "./agent.js";
import type { AgentWritApp } from "./app.js";
import { AuthorizationError } from "./errors.js";
import type { DelegatedToken } from "./token-ops.js";

/** What the policy is asked. */
export interface StepUpRequest {
  /** The agent whose request was refused. */
  readonly agent: Agent;
  readonly method: string;
  readonly url: string;
  /** The challenge's `scope`: what the resource server said was missing. */
  readonly missing: readonly string[];
  /** The agent's own scope. */
  readonly held: readonly string[];
  /** `held` plus whatever of `missing` it does not cover: a token with this scope can retry the request. */
  readonly wanted: readonly string[];
}

/**
 * A token for the retry: an `Agent` (for example a new agent for the same task) or a
 * `DelegatedToken` (from a broader agent, delegated to this agent). The refused agent owns it from
 * then on: it is reused for later refusals it covers and released with the agent.
 */
export type StepUpGrant = Agent | DelegatedToken;

/** Decides a step-up: a grant, or `undefined`/`null` to leave the 403 as the answer. */
export type StepUpPolicy = (request: StepUpRequest) => StepUpGrant | null | undefined | Promise<StepUpGrant | null | undefined>;

/** `held` plus the scopes of `missing` it does not already cover. */
export function wantedScope(held: readonly string[], missing: readonly string[]): readonly string[] {
  const out = [...held];
  for (const m of missing) if (!scopeIsSubset([m], out)) out.push(m);
  return out;
}

/** A scope naming a whole family (`read:data:*`, `read:data:customer-*`): any identifier it matches. */
function isFamily(scope: string): boolean {
  return (parseScope(scope)?.identifier ?? scope).includes("*");
}

/**
 * The policies' default `allow`: named scopes only. The challenge comes from the resource server
 * and the grant's token goes back to it, so a challenge naming a family (every customer, every
 * order) is declined unless your own `allow` agrees to it.
 */
export function namedScopesOnly(request: StepUpRequest): boolean {
  return !request.missing.some(isFamily);
}

export interface NewAgentStepUpOptions {
  /**
   * Agrees (or not) to each step-up. Default: {@link namedScopesOnly} (a challenge naming a
   * wildcard scope is declined), within what the app's ceiling allows.
   */
  readonly allow?: (request: StepUpRequest) => boolean | Promise<boolean>;
  /** The new agent's `maxTtl` (default: the app's default, 300). */
  readonly maxTtl?: number;
}

/**
 * A policy that registers a new agent for the same orchestrator and task with `wanted` as its
 * scope. The broker enforces the app's ceiling: a step-up beyond it is declined (the 403 stands),
 * never retried. Without `allow`, a challenge naming a wildcard scope is declined.
 */
export function stepUpWithNewAgent(app: AgentWritApp, options: NewAgentStepUpOptions = {}): StepUpPolicy {
  return async (request) => {
    if (!(await (options.allow ?? namedScopesOnly)(request))) return undefined;
    try {
      return await app.createAgent({
        orchId: request.agent.orchId,
        taskId: request.agent.taskId,
        scope: request.wanted,
        ...(options.maxTtl === undefined ? {} : { maxTtl: options.maxTtl }),
      });
    } catch (e) {
      if (e instanceof AuthorizationError && e.errorCode === "forbidden" && e.problem.detail.startsWith("requested scopes exceed app ceiling")) return undefined;
      throw e;
    }
  };
}

export interface DelegationStepUpOptions {
  /**
   * Agrees (or not) to each step-up. Default: {@link namedScopesOnly} (a challenge naming a
   * wildcard scope is declined), within what the delegator's scope covers.
   */
  readonly allow?: (request: StepUpRequest) => boolean | Promise<boolean>;
  /** Seconds (the broker's default is 60); renewed like any token while the agent uses it. */
  readonly ttl?: number;
}

/**
 * A policy that has `delegator` delegate to the refused agent: `wanted` when the delegator's scope
 * covers it, else just `missing`; declined when it covers neither. Without `allow`, a challenge
 * naming a wildcard scope is declined.
 */
export function stepUpByDelegation(delegator: Agent, options: DelegationStepUpOptions = {}): StepUpPolicy {
  return async (request) => {
    const scope = scopeIsSubset(request.wanted, delegator.scope)
      ? request.wanted
      : scopeIsSubset(request.missing, delegator.scope)
        ? request.missing
        : undefined;
    if (scope === undefined || delegator.released) return undefined;
    if (!(await (options.allow ?? namedScopesOnly)(request))) return undefined;
    return delegator.delegate({ to: request.agent.agentId, scope, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) });
  };
}
