/**
 * The resource map: exact URIs and RFC 6570 level-1 URI templates (`records://patients/{patientId}`,
 * the SDK's `ResourceTemplate` syntax) → requirements. A URI is read as the SDK's `McpServer`
 * reads it (`new URL(uri).toString()`) and matched with the SDK's own `UriTemplate`, so the gate
 * decides on the very URI the server dispatches. An exact entry wins; otherwise every matching
 * template's requirement must hold. Values are percent-decoded once, then core's unsafe-value
 * rules apply (a `%` left over is refused). A URI matching no entry is denied by default.
 */
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import {
  ALLOWED,
  compileEntry,
  completionCheck,
  familyHeld,
  filledHeld,
  mapEntries,
  NO_PARAMS,
  type Check,
  type Entry,
  type McpRequirement,
  type Resolution,
  type UnlistedPolicy,
} from "./entries.js";

/** Resource URI or URI template → the scopes reading it needs. */
export type ResourceScopeMap = Readonly<Record<string, McpRequirement>>;

/** Longest URI the gate reads (its templates' matching is linear in it). */
export const MAX_URI_LENGTH = 8192;

const EXPRESSION = /\{([^{}]*)\}/g;
const VARNAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface TemplateEntry {
  readonly entry: Entry;
  readonly template: UriTemplate;
}

function decodeOnce(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // Malformed percent-encoding: left as is, so core refuses the "%" it still holds.
    return value;
  }
}

/** Checks a template key: level 1 only, splittable without ambiguity, written as the URL parser writes it. */
function checkTemplate(key: string): UriTemplate {
  const names: string[] = [];
  let previousEnd = -1;
  for (const m of key.matchAll(EXPRESSION)) {
    const name = m[1] ?? "";
    if (!VARNAME.test(name)) {
      throw new TypeError(`resources["${key}"]: only level-1 templates are supported ({name}: letters, digits, "_"); "{${name}}" is not one`);
    }
    if (previousEnd >= 0) {
      const between = key.slice(previousEnd, m.index);
      // The SDK matches {name} with [^/,]+: only a "/" or "," between two placeholders splits a URI one way.
      if (!between.includes("/") && !between.includes(",")) {
        throw new TypeError(`resources["${key}"]: put a "/" or "," between two placeholders; "${between}" cannot split a URI unambiguously`);
      }
    }
    previousEnd = m.index + m[0].length;
    names.push(name);
  }
  if (/[{}]/.test(key.replace(EXPRESSION, ""))) throw new TypeError(`resources["${key}"]: unbalanced braces`);
  const template = new UriTemplate(key);
  if (template.variableNames.join(",") !== names.join(",")) throw new TypeError(`resources["${key}"]: the SDK reads this template differently`);
  checkNormalized(key.replace(EXPRESSION, "a"), key);
  return template;
}

/** The map's URIs are compared with `new URL(uri).toString()`: keys must already be in that form. */
function checkNormalized(uri: string, key: string): void {
  let href: string;
  try {
    href = new URL(uri).href;
  } catch {
    throw new TypeError(`resources["${key}"]: not an absolute URI`);
  }
  if (href !== uri) throw new TypeError(`resources["${key}"]: write it as the URL parser does (${JSON.stringify(href)}), the form the SDK matches`);
}

export class ResourceRequirements {
  readonly #exact = new Map<string, Entry>();
  readonly #templates: TemplateEntry[] = [];
  readonly #byKey = new Map<string, Entry>();

  constructor(
    given: unknown,
    readonly policy: UnlistedPolicy,
  ) {
    for (const [key, requirement] of mapEntries(given, "resources")) {
      const entry = compileEntry("resources", key, requirement, `resources/read ${key}`);
      const params = entry.compiled?.params ?? [];
      if (UriTemplate.isTemplate(key)) {
        const template = checkTemplate(key);
        const unbound = params.filter((p) => !template.variableNames.includes(p));
        if (unbound.length > 0) throw new TypeError(`resources["${key}"]: the requirement's {${unbound.join("}, {")}} is not a placeholder of the template`);
        this.#templates.push({ entry, template });
      } else {
        checkNormalized(key, key);
        if (params.length > 0) throw new TypeError(`resources["${key}"]: an exact URI has nothing to bind into {${params.join("}, {")}}`);
        this.#exact.set(key, entry);
      }
      this.#byKey.set(key, entry);
    }
  }

  /** The entry declared under exactly this key (a URI or a template), if any. */
  get(key: string): Entry | undefined {
    return this.#byKey.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#byKey.keys();
  }

  /** The checks for reading (or subscribing to) `uri`. */
  resolve(uri: string): Resolution {
    if (uri.length > MAX_URI_LENGTH) return { invalid: `params.uri is longer than ${String(MAX_URI_LENGTH)} characters` };
    let href: string;
    try {
      href = new URL(uri).href;
    } catch {
      return { invalid: "params.uri must be an absolute URI" };
    }
    if (href.length > MAX_URI_LENGTH) return { invalid: `params.uri is longer than ${String(MAX_URI_LENGTH)} characters` };
    // Only a URI already in the form the URL parser writes: a handler reading the raw text (a
    // low-level Server's resources/subscribe) must never see another resource than the one checked
    // (`records://patients/43/../42` would be checked as patient 42).
    if (href !== uri) return { invalid: "params.uri is not in the form the URL parser writes it (dot segments, case, default port…): send the URI as the resource lists give it" };
    const exact = this.#exact.get(href);
    if (exact !== undefined) return { checks: [{ entry: exact, params: NO_PARAMS, family: false }] };
    const checks: Check[] = [];
    for (const { entry, template } of this.#templates) {
      const variables = template.match(href);
      if (variables === null) continue;
      const params: Record<string, string> = {};
      for (const [name, value] of Object.entries(variables)) {
        // Level 1 only: never a list; a list would be refused by core as not a string.
        if (typeof value === "string") params[name] = decodeOnce(value);
      }
      checks.push({ entry, params, family: false });
    }
    if (checks.length > 0) return { checks };
    return this.policy === "allow" ? ALLOWED : { unlisted: "resources" };
  }

  /** The checks for completing an argument of the template or URI `key`: usable with the values `args` chose and some others. */
  resolveFamily(key: string, args: Readonly<Record<string, unknown>> = NO_PARAMS): Resolution {
    const entry = this.#byKey.get(key);
    if (entry === undefined) return this.policy === "allow" ? ALLOWED : { unlisted: "resources" };
    return { checks: [completionCheck(entry, args)] };
  }

  /** Whether `resources/list` shows `uri` to holders of `scopes`: they could read it. */
  readable(uri: string, scopes: readonly string[], maxParamLength: number): boolean {
    const r = this.resolve(uri);
    if (!("checks" in r)) return false;
    return r.checks.every((c) => filledHeld(c.entry, scopes, c.params, maxParamLength));
  }

  /** Whether `resources/templates/list` shows the template `key` to holders of `scopes`. */
  templateVisible(key: string, scopes: readonly string[]): boolean {
    const entry = this.#byKey.get(key);
    return entry === undefined ? this.policy === "allow" : familyHeld(entry, scopes);
  }
}
