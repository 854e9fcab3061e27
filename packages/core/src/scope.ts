/**
 * AgentWrit scope algebra, with the broker's exact Go semantics (`internal/authz`).
 *
 * A scope is `action:resource:identifier`, split like Go's `strings.SplitN(s, ":", 3)`: the
 * identifier is everything after the second colon and may itself contain colons. All three
 * parts must be non-empty. There is no trimming and no case folding. The only wildcard is an
 * identifier that is exactly `*`; a `*` anywhere else is an ordinary character.
 */

/** A parsed scope. */
export interface Scope {
  readonly action: string;
  readonly resource: string;
  readonly identifier: string;
}

/**
 * Parses a scope exactly as the broker's `ParseScope` does.
 *
 * @returns the three parts, or `null` when the string is not a valid scope.
 */
export function parseScope(s: string): Scope | null {
  if (typeof s !== "string") return null;
  const first = s.indexOf(":");
  if (first <= 0) return null;
  const second = s.indexOf(":", first + 1);
  if (second < 0 || second === first + 1 || second === s.length - 1) return null;
  return {
    action: s.slice(0, first),
    resource: s.slice(first + 1, second),
    identifier: s.slice(second + 1),
  };
}

/** True when `s` is a valid scope string under the broker's rules. */
export function isValidScope(s: unknown): s is string {
  return typeof s === "string" && parseScope(s) !== null;
}

/**
 * True when the held scope `allowed` covers the `requested` scope (the broker's `scopeCovers`):
 * both parse, action and resource are equal, and the identifiers are equal or the held
 * identifier is exactly `*`. A scope that does not parse is never covered, not even by itself.
 */
export function scopeCovers(requested: string, allowed: string): boolean {
  const r = parseScope(requested);
  if (r === null) return false;
  const a = parseScope(allowed);
  if (a === null) return false;
  return (
    r.action === a.action &&
    r.resource === a.resource &&
    (a.identifier === "*" || a.identifier === r.identifier)
  );
}

/**
 * The broker's `ScopeIsSubset(requested, allowed)`: every requested scope is covered by at
 * least one allowed scope. An empty `requested` list is a subset of anything.
 */
export function scopeIsSubset(requested: readonly string[], held: readonly string[]): boolean {
  for (const r of requested) {
    let covered = false;
    for (const a of held) {
      if (scopeCovers(r, a)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}
