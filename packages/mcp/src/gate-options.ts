/**
 * The gate's options, checked once at construction (a `TypeError` names any mistake), and how its
 * limits reach the guard: when the gate builds the guard from options, `maxParamLength` and
 * `maxChallengeScopes` are the guard's too; with a guard given as is, the gate applies its own
 * before the guard's.
 */
import { isGuard, type Guard, type GuardLogger } from "@agentwrit/guard";
import type { AuthorizeLimits } from "./authorize.js";
import { bodyLimits, type BodyLimits } from "./body.js";
import { policyOption, type McpRequirement, type UnlistedPolicy } from "./entries.js";
import { DEFAULT_MAX_BATCH_SIZE } from "./json-rpc.js";
import { checkAudienceHasResource, createMcpGuard, resourceOf, type McpGuardOptions } from "./options.js";
import type { ResourceScopeMap } from "./resources.js";
import { DEFAULT_MAX_SESSIONS } from "./sessions.js";

/** Tool name → the scopes a call needs: a scope, a template (`read:records:{patientId}`), a list (all-of), `anyOf(...)`, or `ANY_AGENT`. */
export type ToolScopeMap = Readonly<Record<string, McpRequirement>>;
/** Prompt name → the scopes `prompts/get` needs, templates bound to the prompt's arguments. */
export type PromptScopeMap = Readonly<Record<string, McpRequirement>>;
/** What happens to tools that have no entry in the map. */
export type UnlistedToolsPolicy = UnlistedPolicy;

export interface McpGateOptions {
  /** A guard, or options for `createMcpGuard` (then `resource` binds the audience). */
  readonly guard: Guard | McpGuardOptions;
  /**
   * The requirement of each tool. `{name}` placeholders are filled from the call's arguments;
   * a missing, empty, non-string, over-long or unsafe value (`*`, `%`, braces, whitespace) is
   * refused with 400 and never widens the requirement. `ANY_AGENT` opens a tool to every
   * authenticated agent.
   */
  readonly tools?: ToolScopeMap | undefined;
  /**
   * The requirement of each resource, keyed by exact URI or RFC 6570 level-1 template
   * (`records://patients/{patientId}`): `resources/read` and `resources/subscribe` are checked
   * against the entry whose key matches the URI, placeholders bound from it.
   */
  readonly resources?: ResourceScopeMap | undefined;
  /** The requirement of each prompt; `prompts/get` binds the prompt's arguments. */
  readonly prompts?: PromptScopeMap | undefined;
  /**
   * Tools absent from `tools`: `"deny"` refuses their calls (403 without a `scope`, since no
   * scope grants them) and hides them from `tools/list`; `"allow"` lets any authenticated agent
   * call and see them.
   * @default "deny"
   */
  readonly unlistedTools?: UnlistedPolicy | undefined;
  /** Resource URIs matching no entry of `resources`, as `unlistedTools`. @default "deny" */
  readonly unlistedResources?: UnlistedPolicy | undefined;
  /** Prompts absent from `prompts`, as `unlistedTools`. @default "deny" */
  readonly unlistedPrompts?: UnlistedPolicy | undefined;
  /** The server's canonical URI for `AuthInfo.resource`. Defaults to the guard options' `resource`. */
  readonly resource?: string | URL | undefined;
  /**
   * With a guard given as is and a `resource`, the guard's `audience` must contain the resource
   * (else a `TypeError`); `true` accepts a guard that does not.
   * @default false
   */
  readonly allowAudienceWithoutResource?: boolean | undefined;
  /** Largest request body the gate reads (`checkRequest`, the adapters). @default 4 MiB (the SDK's own limit) */
  readonly maxBodyBytes?: number | undefined;
  /** Longest wait for a request body, in milliseconds (408 beyond). @default 30000 */
  readonly bodyTimeoutMs?: number | undefined;
  /** Most messages in a JSON-RPC batch (400 invalid request beyond, before any other work). @default 100 (the SDK's own) */
  readonly maxBatchSize?: number | undefined;
  /** Longest value bound into a requirement (400 beyond, before any scope work). @default the guard's own (256 unless set) */
  readonly maxParamLength?: number | undefined;
  /** Most missing scopes a 403 challenge names (it also stays under 4 KiB). @default 16 */
  readonly maxChallengeScopes?: number | undefined;
  /** Most stateful sessions bound at once (least recently used forgotten first). @default 10000 */
  readonly maxSessions?: number | undefined;
  /**
   * Where the gate logs: wiring mistakes (error), tools, resources and prompts registered without
   * an entry (warn). Defaults to the guard's logger; without either, wiring mistakes go to `console.error`.
   */
  readonly logger?: GuardLogger | undefined;
  /**
   * Refuse to build a gate whose guard has no `resourceMetadataUrl`: the MCP authorization spec
   * requires `resource_metadata` in the challenges.
   * @default true
   */
  readonly requireResourceMetadata?: boolean | undefined;
}

/** The options, checked. */
export interface GateConfig {
  readonly guard: Guard;
  readonly resource: string | undefined;
  readonly body: BodyLimits;
  readonly maxBatchSize: number;
  readonly maxSessions: number;
  readonly authorize: AuthorizeLimits;
  readonly logger: GuardLogger | undefined;
  readonly unlisted: { readonly tools: UnlistedPolicy; readonly resources: UnlistedPolicy; readonly prompts: UnlistedPolicy };
}

function int(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`createMcpGate: ${name} must be an integer from ${String(min)} to ${String(max)}`);
  }
  return value;
}

/** The same limit given to the gate and to the guard options must agree. */
function shared(gate: number | undefined, guard: number | undefined, name: string): number | undefined {
  if (gate !== undefined && guard !== undefined && gate !== guard) {
    throw new TypeError(`createMcpGate: ${name} is ${String(gate)} for the gate but ${String(guard)} in the guard options; give it once`);
  }
  return gate ?? guard;
}

export function resolveGateOptions(options: McpGateOptions): GateConfig {
  if (typeof options !== "object" || (options as unknown) === null) throw new TypeError("createMcpGate(options): options must be an object");
  const given = options.guard;
  const maxParamLength = int(options.maxParamLength, "maxParamLength", 256, 1, 65536);
  const maxChallengeScopes = int(options.maxChallengeScopes, "maxChallengeScopes", 16, 1, 1024);
  let guard: Guard;
  let capChallenges: number | undefined;
  if (isGuard(given)) {
    guard = given;
    // A guard given as is keeps its own caps; the gate's apply first when set explicitly.
    capChallenges = options.maxChallengeScopes === undefined ? undefined : maxChallengeScopes;
  } else {
    if (typeof given !== "object" || (given as unknown) === null) throw new TypeError("createMcpGate: guard must be a guard (createGuard) or guard options");
    const allow = given.allowAudienceWithoutResource ?? options.allowAudienceWithoutResource;
    guard = createMcpGuard({
      ...given,
      maxParamLength: shared(options.maxParamLength, given.maxParamLength, "maxParamLength") ?? maxParamLength,
      maxChallengeScopes: shared(options.maxChallengeScopes, given.maxChallengeScopes, "maxChallengeScopes") ?? maxChallengeScopes,
      ...(allow === undefined ? {} : { allowAudienceWithoutResource: allow }),
    });
  }
  const resource = resourceOf(given, options.resource);
  if (!isGuard(given) && given.resource !== undefined && resource !== undefined && resourceOf(given, undefined) !== resource) {
    throw new TypeError("createMcpGate: resource differs from the guard options' resource; give it once");
  }
  if (isGuard(given) && resource !== undefined && options.allowAudienceWithoutResource !== true) {
    checkAudienceHasResource(guard.audience, resource);
  }
  if (options.requireResourceMetadata !== false && guard.resourceMetadataUrl === undefined) {
    throw new TypeError(
      "createMcpGate: the guard has no resourceMetadataUrl, but MCP clients need resource_metadata in every 401 and 403. " +
        "Pass guard options with `resource` (or `resourceMetadataUrl`), or set requireResourceMetadata: false.",
    );
  }
  // A guard given as is keeps its own limit unless the gate sets one: the gate never refuses a
  // value its guard would accept.
  const effectiveParamLength = options.maxParamLength === undefined ? guard.describe().maxParamLength : maxParamLength;
  return {
    guard,
    resource,
    body: bodyLimits(options.maxBodyBytes, options.bodyTimeoutMs, "createMcpGate"),
    maxBatchSize: int(options.maxBatchSize, "maxBatchSize", DEFAULT_MAX_BATCH_SIZE, 1, 10_000),
    maxSessions: int(options.maxSessions, "maxSessions", DEFAULT_MAX_SESSIONS, 1, 10_000_000),
    authorize: { maxParamLength: effectiveParamLength, maxChallengeScopes: capChallenges },
    logger: options.logger ?? guard.logger,
    unlisted: {
      tools: policyOption(options.unlistedTools, "unlistedTools"),
      resources: policyOption(options.unlistedResources, "unlistedResources"),
      prompts: policyOption(options.unlistedPrompts, "unlistedPrompts"),
    },
  };
}
