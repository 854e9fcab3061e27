/** Argument helpers of the `agentwrit-dev-broker` CLI (kept apart so tests can import them). */

/** Splits `name:scope,scope` at the first colon (scopes contain colons themselves). */
export function parseAppSpec(spec: string): { name: string; scopes: string[] } {
  const i = spec.indexOf(":");
  if (i <= 0 || i === spec.length - 1) throw new Error(`--app expects name:scope[,scope…], got "${spec}"`);
  return { name: spec.slice(0, i), scopes: spec.slice(i + 1).split(",").filter((s) => s !== "") };
}
