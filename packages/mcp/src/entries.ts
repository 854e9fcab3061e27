/**
 * The gate's requirement maps: a name (tool, prompt) or a URI key (resource) → a core requirement,
 * compiled once. Deny by default: a name with no entry is refused unless the map's policy says
 * `"allow"`. Nothing empty means "anyone" (core refuses an empty requirement); the one way to open
 * an entry to every authenticated agent is the explicit {@link ANY_AGENT} marker.
 */
import {
  compileRequirement,
  evaluateRequirement,
  requirementFamily,
  type CompiledRequirement,
  type Requirement,
  type RequirementParams,
  type VerifyContext,
} from "@agentwrit/guard";

/**
 * Marks a tool, resource or prompt that any authenticated agent may use:
 * `tools: { whoami: ANY_AGENT }`. A symbol, so that no configuration text (JSON, YAML, an
 * environment variable) can produce it by accident; an empty list or `anyOf()` is a `TypeError`.
 */
export const ANY_AGENT: unique symbol = Symbol.for("@agentwrit/guard-mcp.ANY_AGENT");

/** A requirement in a gate map: a core requirement, or {@link ANY_AGENT}. */
export type McpRequirement = Requirement | typeof ANY_AGENT;

/** What happens to names that have no entry in a map. */
export type UnlistedPolicy = "deny" | "allow";

/** One map entry, compiled. */
export interface Entry {
  readonly key: string;
  readonly requirement: McpRequirement;
  /** `undefined` for {@link ANY_AGENT}. */
  readonly compiled: CompiledRequirement | undefined;
  /** The requirement with every placeholder read as "any value" (for lists and completion). */
  readonly family: CompiledRequirement | undefined;
  /** Labels the decision (`tools/call get_patient_record`); values are client input. */
  readonly context: VerifyContext;
  /** Per set of placeholders: the requirement with only those bound (completion), made on first use. */
  readonly partial: Map<string, CompiledRequirement>;
}

/** One requirement to check for one message: the entry, and the values bound into it. */
export interface Check {
  readonly entry: Entry;
  readonly params: RequirementParams;
  /** Check the family (completion: "could use it with some value"), not the filled requirement. */
  readonly family: boolean;
  /** The requirement to check instead of the entry's (completion: the family with some placeholders bound). */
  readonly requirement?: CompiledRequirement | undefined;
}

/** What a message needs: checks (none: allowed), refused as unlisted, or malformed (400). */
export type Resolution =
  | { readonly checks: readonly Check[] }
  | { readonly unlisted: "tools" | "resources" | "prompts" }
  | { readonly invalid: string };

export const ALLOWED: Resolution = Object.freeze({ checks: Object.freeze([]) });
export const NO_PARAMS: RequirementParams = Object.freeze({});

/** Compiles one entry; a malformed or empty requirement is a `TypeError` naming it. */
export function compileEntry(map: string, key: string, requirement: unknown, label: string): Entry {
  const context: VerifyContext = Object.freeze({ paramSource: "input", route: label });
  if (requirement === ANY_AGENT) return { key, requirement, compiled: undefined, family: undefined, context, partial: new Map() };
  let compiled: CompiledRequirement;
  try {
    compiled = compileRequirement(requirement as Requirement);
  } catch (e) {
    throw new TypeError(`${map}["${key}"]: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return { key, requirement: requirement as Requirement, compiled, family: requirementFamily(compiled), context, partial: new Map() };
}

/** The own entries of a map option (`undefined`: none); anything else is a `TypeError`. */
export function mapEntries(map: unknown, name: string): [string, unknown][] {
  if (map === undefined) return [];
  if (typeof map !== "object" || map === null || Array.isArray(map)) throw new TypeError(`${name} must be an object of name → requirement`);
  return Object.entries(map);
}

/** Checks an `unlisted…` option. */
export function policyOption(value: unknown, name: string): UnlistedPolicy {
  if (value === undefined) return "deny";
  if (value !== "deny" && value !== "allow") throw new TypeError(`${name} must be "deny" or "allow"`);
  return value;
}

/** Whether held scopes meet an entry's family (what lists and completion show). */
export function familyHeld(entry: Entry, scopes: readonly string[]): boolean {
  return entry.family === undefined || evaluateRequirement(entry.family, scopes).satisfied;
}

/** Whether held scopes meet an entry filled with `params` (bad values: no). */
export function filledHeld(entry: Entry, scopes: readonly string[], params: RequirementParams, maxParamLength: number): boolean {
  if (entry.compiled === undefined) return true;
  try {
    return evaluateRequirement(entry.compiled, scopes, params, { maxParamLength }).satisfied;
  } catch {
    return false;
  }
}

/** Most partial families kept per entry (a requirement with many placeholders has many subsets). */
const MAX_PARTIALS = 64;

/** The values of `args` that the entry's requirement binds (the others change nothing). */
function boundValues(entry: Entry, args: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of entry.compiled?.params ?? []) if (Object.hasOwn(args, name)) out[name] = args[name];
  return out;
}

/** The entry's requirement with the placeholders `bound` names kept and every other read as "any value". */
function partialFamily(entry: Entry, bound: Readonly<Record<string, unknown>>): CompiledRequirement | undefined {
  const compiled = entry.compiled;
  if (compiled === undefined) return undefined;
  const names = Object.keys(bound).sort();
  if (names.length === 0) return entry.family;
  const key = names.join("\u0000");
  let partial = entry.partial.get(key);
  if (partial === undefined) {
    partial = requirementFamily(compiled, names);
    if (entry.partial.size < MAX_PARTIALS) entry.partial.set(key, partial);
  }
  return partial;
}

/** A completion's check: could the agent use the entry with the values the client chose (`args`), any others? */
export function completionCheck(entry: Entry, args: Readonly<Record<string, unknown>>): Check {
  const params = boundValues(entry, args);
  return { entry, params, family: true, requirement: partialFamily(entry, params) };
}

/**
 * Whether holders of `scopes` could use the entry with `argument` set to `value` and the
 * placeholders in `context` (the completion's `context.arguments`) bound, the others read as
 * "any value": what a completion may suggest.
 */
export function completionHeld(
  entry: Entry,
  scopes: readonly string[],
  argument: string,
  value: unknown,
  maxParamLength: number,
  context: Readonly<Record<string, unknown>> = NO_PARAMS,
): boolean {
  const check = completionCheck(entry, { ...context, [argument]: value });
  if (check.requirement === undefined) return true;
  try {
    return evaluateRequirement(check.requirement, scopes, check.params, { maxParamLength }).satisfied;
  } catch {
    return false;
  }
}

/**
 * A map keyed by name (tools, prompts): the entry of a name, the checks of a message, and what a
 * list shows. Lookups are by own name only (`constructor`, `__proto__` are not names here).
 */
export class NamedRequirements {
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly map: "tools" | "prompts",
    given: unknown,
    readonly policy: UnlistedPolicy,
    method: string,
  ) {
    for (const [name, requirement] of mapEntries(given, map)) {
      this.#entries.set(name, compileEntry(map, name, requirement, `${method} ${name}`));
    }
  }

  get(name: string): Entry | undefined {
    return this.#entries.get(name);
  }

  names(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** The checks for using `name` with `args` bound into its requirement. */
  resolve(name: string, args: RequirementParams): Resolution {
    const entry = this.#entries.get(name);
    if (entry === undefined) return this.policy === "allow" ? ALLOWED : { unlisted: this.map };
    return { checks: [{ entry, params: args, family: false }] };
  }

  /** The checks for completing an argument of `name`: usable with the values `args` chose and some others. */
  resolveFamily(name: string, args: Readonly<Record<string, unknown>> = NO_PARAMS): Resolution {
    const entry = this.#entries.get(name);
    if (entry === undefined) return this.policy === "allow" ? ALLOWED : { unlisted: this.map };
    return { checks: [completionCheck(entry, args)] };
  }

  /** Whether a list shows `name` to holders of `scopes`. */
  visible(name: string, scopes: readonly string[]): boolean {
    const entry = this.#entries.get(name);
    return entry === undefined ? this.policy === "allow" : familyHeld(entry, scopes);
  }
}
