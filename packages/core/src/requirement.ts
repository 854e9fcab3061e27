/**
 * Scope requirements: what a route or tool needs, matched against the scopes a token holds.
 *
 * - exact `write:data:orders`: covered by a held scope under the broker's rule;
 * - family `read:data:*`, `write:data:order-*`: a held scope with the same action and resource
 *   whose identifier matches the pattern (`*` = one or more characters), or whose identifier is `*`;
 * - template `write:data:order-{id}`: `{name}` is filled from request parameters; a missing,
 *   empty or unsafe value is refused (400) and never widens the requirement;
 * - a list means all-of; `anyOf(...)` means any-of; they nest.
 */
import { describeValue, refuse } from "./refusal.js";
import { parseScope, scopeCovers } from "./scope.js";

/** All of the listed requirements must hold. */
export interface AllOf {
  readonly allOf: readonly Requirement[];
}
/** At least one of the listed requirements must hold. */
export interface AnyOf {
  readonly anyOf: readonly Requirement[];
}
/** A scope requirement: a scope string, a list (all-of), or `anyOf` / `allOf`. */
export type Requirement = string | CompiledRequirement | readonly Requirement[] | AllOf | AnyOf;

/** Values bound into `{name}` placeholders (route params, tool arguments). */
export type RequirementParams = Readonly<Record<string, unknown>>;

/** Builds an any-of requirement. */
export function anyOf(...requirements: Requirement[]): AnyOf {
  return { anyOf: requirements };
}
/** Builds an all-of requirement (the same as a list). */
export function allOf(...requirements: Requirement[]): AllOf {
  return { allOf: requirements };
}

type Piece = { readonly literal: string } | { readonly param: string };

interface Leaf {
  readonly kind: "leaf";
  readonly source: string;
  readonly action: string;
  readonly resource: string;
  readonly identifier: readonly Piece[];
  readonly params: readonly string[];
}
interface Group {
  readonly kind: "all" | "any";
  readonly items: readonly Node[];
}
type Node = Leaf | Group;

const COMPILED = Symbol.for("@agentwrit/guard.CompiledRequirement");

/** A requirement checked once, ready to evaluate on every request. */
export interface CompiledRequirement {
  readonly [COMPILED]: Node;
  /** The requirement's scopes as written (templates unfilled). */
  readonly scopes: readonly string[];
  /** The names of the `{placeholders}` it binds. */
  readonly params: readonly string[];
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
const FORBIDDEN_LITERAL = /[\s{}]/;

function compileLeaf(source: string): Leaf {
  const parsed = parseScope(source);
  if (parsed === null) throw new TypeError(`scope requirement "${source}" is not action:resource:identifier with three non-empty parts`);
  if (/[*{}\s]/.test(parsed.action) || /[*{}\s]/.test(parsed.resource)) {
    throw new TypeError(`scope requirement "${source}": action and resource must be literal (no "*", "{", "}" or spaces)`);
  }
  const pieces: Piece[] = [];
  const params: string[] = [];
  let last = 0;
  for (const m of parsed.identifier.matchAll(PLACEHOLDER)) {
    const name = m[1] ?? "";
    if (m.index > last) pieces.push({ literal: parsed.identifier.slice(last, m.index) });
    pieces.push({ param: name });
    params.push(name);
    last = m.index + m[0].length;
  }
  if (last < parsed.identifier.length) pieces.push({ literal: parsed.identifier.slice(last) });
  for (const p of pieces) {
    if ("literal" in p && FORBIDDEN_LITERAL.test(p.literal)) {
      throw new TypeError(`scope requirement "${source}": malformed placeholder or whitespace in the identifier`);
    }
  }
  return { kind: "leaf", source, action: parsed.action, resource: parsed.resource, identifier: pieces, params };
}

function compileNode(req: unknown, depth: number): Node {
  if (depth > 16) throw new TypeError("scope requirement nests too deeply");
  if (typeof req === "string") return compileLeaf(req);
  if (isCompiledRequirement(req)) return req[COMPILED];
  // Nothing empty means "anyone": an empty list read from configuration must never open a route.
  if (Array.isArray(req)) {
    if (req.length === 0) throw new TypeError("scope requirement: an empty list would allow every agent; name at least one scope");
    return { kind: "all", items: req.map((r) => compileNode(r, depth + 1)) };
  }
  if (typeof req === "object" && req !== null) {
    const o = req as Record<string, unknown>;
    if (Array.isArray(o.anyOf) && o.allOf === undefined) {
      if (o.anyOf.length === 0) throw new TypeError("scope requirement: anyOf() with nothing would allow no agent or every agent; name at least one requirement");
      return { kind: "any", items: o.anyOf.map((r) => compileNode(r, depth + 1)) };
    }
    if (Array.isArray(o.allOf) && o.anyOf === undefined) {
      if (o.allOf.length === 0) throw new TypeError("scope requirement: allOf() with nothing would allow every agent; name at least one requirement");
      return { kind: "all", items: o.allOf.map((r) => compileNode(r, depth + 1)) };
    }
  }
  throw new TypeError("a scope requirement is a scope string, a list of requirements, anyOf(...) or allOf(...)");
}

function collect(node: Node, scopes: string[], params: string[]): void {
  if (node.kind === "leaf") {
    scopes.push(node.source);
    for (const p of node.params) if (!params.includes(p)) params.push(p);
  } else {
    for (const item of node.items) collect(item, scopes, params);
  }
}

/**
 * True for anything shaped like a requirement (a string, a list, `anyOf`/`allOf`, or a compiled
 * one), as opposed to an options object. It does not check that the requirement is well formed.
 */
export function isRequirement(x: unknown): x is Requirement | CompiledRequirement {
  if (typeof x === "string" || Array.isArray(x) || isCompiledRequirement(x)) return true;
  return typeof x === "object" && x !== null && ("anyOf" in x || "allOf" in x);
}

/** True for a value returned by {@link compileRequirement}. */
export function isCompiledRequirement(x: unknown): x is CompiledRequirement {
  return typeof x === "object" && x !== null && COMPILED in x;
}

/**
 * Checks a requirement once (a `TypeError` for a malformed one) so that evaluating it per
 * request does no parsing.
 */
export function compileRequirement(req: Requirement | CompiledRequirement): CompiledRequirement {
  if (isCompiledRequirement(req)) return req;
  const node = compileNode(req, 0);
  const scopes: string[] = [];
  const params: string[] = [];
  collect(node, scopes, params);
  return Object.freeze({ [COMPILED]: node, scopes: Object.freeze(scopes), params: Object.freeze(params) });
}

function familyNode(node: Node, keep: ReadonlySet<string>): Node {
  if (node.kind !== "leaf") return { kind: node.kind, items: node.items.map((item) => familyNode(item, keep)) };
  const identifier = node.identifier.map((p): Piece => ("param" in p && !keep.has(p.param) ? { literal: "*" } : p));
  const text = identifier.map((p) => ("literal" in p ? p.literal : `{${p.param}}`)).join("");
  return { ...node, source: `${node.action}:${node.resource}:${text}`, identifier, params: node.params.filter((p) => keep.has(p)) };
}

/**
 * The requirement with every `{placeholder}` read as "any value" (`*`, one or more characters):
 * `read:records:patient-{id}` becomes the family `read:records:patient-*`. Useful to decide
 * whether an agent could call something at all (e.g. which MCP tools to list). Placeholders named
 * in `keep` stay placeholders, to be bound when evaluated: with `keep: ["a"]`,
 * `read:data:{a}-{b}` is `read:data:{a}-*` (could the agent use it with this `a`, any `b`?).
 */
export function requirementFamily(req: Requirement | CompiledRequirement, keep: readonly string[] = []): CompiledRequirement {
  const node = familyNode(compileRequirement(req)[COMPILED], new Set(keep));
  const scopes: string[] = [];
  const params: string[] = [];
  collect(node, scopes, params);
  return Object.freeze({ [COMPILED]: node, scopes: Object.freeze(scopes), params: Object.freeze(params) });
}

/** Where `{placeholder}` values come from, which decides who is at fault when one is absent. */
export type ParamSource = "route" | "input";

/** How a requirement is evaluated against request values. */
export interface EvaluateOptions {
  /**
   * `"route"`: values are a framework's route parameters, whose names the server defines, so a
   * placeholder absent from them is a wiring mistake (500 `requirement_param_missing`).
   * `"input"` (default): values come from the client (tool arguments), so an absent one is a
   * 400 `invalid_parameter`.
   */
  readonly paramSource?: ParamSource | undefined;
  /** Longest value bound into a placeholder. @default 256 */
  readonly maxParamLength?: number | undefined;
  /** Names the route or tool in reasons (e.g. `GET /customers/:id`). */
  readonly label?: string | undefined;
}

/** Default for `maxParamLength`. */
export const DEFAULT_MAX_PARAM_LENGTH = 256;

// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const UNSAFE_VALUE = /[*%{}\s\u0000-\u001f\u007f]/;

function unsafeCharName(value: string): string {
  const m = UNSAFE_VALUE.exec(value)?.[0] ?? "";
  if (m === "*") return '"*" (a wildcard)';
  if (m === "%") return '"%" (percent-encoding left after decoding)';
  if (m === "{" || m === "}") return "a brace";
  if (/\s/.test(m)) return "whitespace";
  return "a control character";
}

/**
 * Checks every placeholder's value before any scope work: a non-empty string of at most
 * `maxParamLength` characters without `*`, `%`, braces, whitespace or controls. Throws the
 * refusal `evaluateRequirement` would (`invalid_parameter`, or `requirement_param_missing` for a
 * route without the parameter); returns nothing when every value is fine.
 */
export function checkRequirementParams(req: CompiledRequirement, params: RequirementParams | undefined, options?: EvaluateOptions): void {
  if (req.params.length === 0) return;
  const max = options?.maxParamLength ?? DEFAULT_MAX_PARAM_LENGTH;
  const where = options?.label === undefined ? "" : ` (${options.label})`;
  for (const name of req.params) {
    const present = params !== undefined && Object.prototype.hasOwnProperty.call(params, name);
    const value = present ? params[name] : undefined;
    if (!present && options?.paramSource === "route") {
      refuse("requirement_param_missing", `the placeholder {${name}} is not a parameter of the route${where}: rename it to one of the route's params`);
    }
    if (typeof value !== "string") {
      refuse("invalid_parameter", `the value of {${name}}${where} is ${value === undefined ? "missing" : `not a string (${typeof value})`}`);
    }
    if (value === "") refuse("invalid_parameter", `the value of {${name}}${where} is empty`);
    if (value.length > max) refuse("invalid_parameter", `the value of {${name}}${where} is ${String(value.length)} characters, over maxParamLength (${String(max)})`);
    if (UNSAFE_VALUE.test(value)) refuse("invalid_parameter", `the value of {${name}}${where} contains ${unsafeCharName(value)}: ${describeValue(value)}`);
  }
}

function fill(leaf: Leaf, params: RequirementParams | undefined): { scope: string; family: boolean } {
  let identifier = "";
  let family = false;
  for (const piece of leaf.identifier) {
    if ("literal" in piece) {
      identifier += piece.literal;
      if (piece.literal.includes("*")) family = true;
    } else {
      // Checked by checkParams before evaluation.
      identifier += params?.[piece.param] as string;
    }
  }
  return { scope: leaf.action + ":" + leaf.resource + ":" + identifier, family };
}

/** Glob over an identifier: `*` matches one or more characters; everything else is literal. */
function globMatch(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  const head = parts[0] ?? "";
  if (!value.startsWith(head)) return false;
  let pos = head.length;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? "";
    if (i === parts.length - 1) {
      return value.length - part.length >= pos + 1 && value.endsWith(part);
    }
    const found = value.indexOf(part, pos + 1);
    if (found < 0) return false;
    pos = found + part.length;
  }
  return pos === value.length;
}

function leafHeld(scope: string, family: boolean, leaf: Leaf, held: readonly string[]): boolean {
  if (!family) return held.some((h) => scopeCovers(scope, h));
  const pattern = scope.slice(leaf.action.length + leaf.resource.length + 2);
  return held.some((h) => {
    const p = parseScope(h);
    return (
      p !== null &&
      p.action === leaf.action &&
      p.resource === leaf.resource &&
      (p.identifier === "*" || globMatch(pattern, p.identifier))
    );
  });
}

/** The outcome of evaluating a requirement. */
export interface RequirementResult {
  readonly satisfied: boolean;
  /** The filled scopes the requirement asked for. */
  readonly required: readonly string[];
  /** The filled scopes that were not held (every alternative of an unmet any-of). */
  readonly missing: readonly string[];
}

function evaluateNode(node: Node, held: readonly string[], params: RequirementParams | undefined, required: string[], missing: string[]): boolean {
  if (node.kind === "leaf") {
    const { scope, family } = fill(node, params);
    required.push(scope);
    const ok = leafHeld(scope, family, node, held);
    if (!ok) missing.push(scope);
    return ok;
  }
  if (node.kind === "all") {
    let ok = true;
    for (const item of node.items) ok = evaluateNode(item, held, params, required, missing) && ok;
    return ok;
  }
  const localMissing: string[] = [];
  let ok = false;
  for (const item of node.items) if (evaluateNode(item, held, params, required, localMissing)) ok = true;
  if (!ok) missing.push(...localMissing);
  return ok;
}

/**
 * Evaluates a compiled requirement against held scopes. Every placeholder value is checked first:
 * `invalid_parameter` (400) when one is missing, empty, too long or unsafe;
 * `requirement_param_missing` (500) when `paramSource` is `"route"` and the route has no such
 * parameter at all.
 */
export function evaluateRequirement(
  req: CompiledRequirement,
  held: readonly string[],
  params?: RequirementParams,
  options?: EvaluateOptions,
): RequirementResult {
  checkRequirementParams(req, params, options);
  const required: string[] = [];
  const missing: string[] = [];
  const satisfied = evaluateNode(req[COMPILED], held, params, required, missing);
  return { satisfied, required: [...new Set(required)], missing: [...new Set(missing)] };
}
