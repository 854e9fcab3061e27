/**
 * `agentwrit-guard check [token | -] …`: runs a real guard (`createGuard`, `verify`) on a token
 * and prints its decision, code and reason. Exit 0 allow, 1 deny, 2 error (usage, configuration,
 * or a 5xx such as the broker being down). Never prints the token.
 */
import { describeGuard, GUARD_ENV_HELP, GUARD_FLAG_HELP, GUARD_FLAGS, guardOptions } from "./cli-guard-options.js";
import { CommandError, isoSeconds, jsonText, NAME, parseCommandArgs, readToken, relative, rows, show, type Outcome } from "./cli-io.js";
import { allOf, compileRequirement, createGuard, isGuardError, type AgentIdentity, type Guard, type GuardError, type Requirement } from "./index.js";

export const CHECK_USAGE = `Usage: ${NAME} check [token | -] [options]

Runs a real guard on a token, as a server configured the same way would, and prints the decision,
its code and the reason an operator reads in the guard's logs.

Pipe the token on stdin (no argument, or -): an argument is visible to other users in \`ps\`
and stays in shell history.
  printf %s "$TOKEN" | ${NAME} check --broker http://127.0.0.1:8080 --key broker.pem \\
      --require "write:data:order-{id}" --param id=7

${GUARD_FLAG_HELP}
  --require <scope>      scope requirement, {placeholders} allowed; repeat to require all
  --param <name=value>   value of a {placeholder}; repeatable
  --json                 one JSON object for scripts
  -h, --help             show this help

${GUARD_ENV_HELP}

Exit status: 0 allow, 1 deny (400, 401, 403), 2 error (usage, configuration, 500, 503).`;

/** `--param name=value` pairs; every placeholder needs one and every one must be used. */
function paramsFor(requirement: Requirement | undefined, given: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of given) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new CommandError(`--param expects name=value, got ${JSON.stringify(p.slice(0, 64))}`, 2);
    const name = p.slice(0, eq);
    if (Object.hasOwn(params, name)) throw new CommandError(`--param ${name} is given twice`, 2);
    params[name] = p.slice(eq + 1);
  }
  const placeholders = requirement === undefined ? [] : compileRequirement(requirement).params;
  const missing = placeholders.filter((n) => !Object.hasOwn(params, n));
  if (missing.length > 0) throw new CommandError(`--require uses {${missing.join("}, {")}}: pass ${missing.map((n) => `--param ${n}=…`).join(" ")}`, 2);
  const unused = Object.keys(params).filter((n) => !placeholders.includes(n));
  if (unused.length > 0) throw new CommandError(`--param ${unused.join(", ")}: no such {placeholder} in --require`, 2);
  return params;
}

function requirementOf(list: readonly string[]): Requirement | undefined {
  if (list.length === 0) return undefined;
  const requirement: Requirement = list.length === 1 ? (list[0] ?? "") : allOf(...list);
  try {
    compileRequirement(requirement);
  } catch (e) {
    throw new CommandError(`--require: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
  return requirement;
}

function agentJson(a: AgentIdentity): Record<string, unknown> {
  return {
    agentId: a.agentId,
    scope: a.scope,
    jti: a.jti,
    taskId: a.taskId ?? null,
    orchId: a.orchId ?? null,
    issuer: a.issuer,
    audience: a.audience,
    trustDomain: a.trustDomain ?? null,
    issuedAt: a.issuedAt?.toISOString() ?? null,
    expiresAt: a.expiresAt.toISOString(),
    delegationDepth: a.delegationDepth,
    delegators: a.delegationChain.map((r) => r.agent),
    source: a.source,
  };
}

function allowText(a: AgentIdentity, required: readonly string[], params: Record<string, string>, guard: Guard): string[] {
  const expSec = Math.floor(a.expiresAt.getTime() / 1000);
  const entries: [string, string][] = [
    ["agent", show(a.agentId)],
    ["source", a.source],
    ["scope", a.scope.map(show).join(", ")],
  ];
  if (required.length > 0) {
    const bound = Object.entries(params).map(([k, v]) => `${k}=${show(v)}`);
    entries.push(["required", `${required.map(show).join(", ")}${bound.length > 0 ? `  (${bound.join(", ")})` : ""}`]);
  }
  entries.push(["expires", `${isoSeconds(expSec) ?? ""}  (${relative(expSec - Date.now() / 1000)})`]);
  if (a.delegationDepth > 0) entries.push(["delegated", `depth ${String(a.delegationDepth)}: ${[...a.delegationChain.map((r) => r.agent), a.agentId].map(show).join(" → ")}`]);
  return ["ALLOW", ...rows(entries), describeGuard(guard.describe())];
}

function refusalText(e: GuardError, guard: Guard): string[] {
  const entries: [string, string][] = [["reason", show(e.reason)]];
  if (e.code === "insufficient_scope" && e.scope.length > 0) entries.push(["missing", e.scope.map(show).join(", ")]);
  return [`${e.status >= 500 ? "ERROR" : "DENY"}  ${String(e.status)} ${e.code}`, ...rows(entries), describeGuard(guard.describe())];
}

export async function check(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome | "help"> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { ...GUARD_FLAGS, require: { type: "string", multiple: true }, param: { type: "string", multiple: true }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    1,
    CHECK_USAGE,
  );
  if (values.help === true) return "help";
  const requirement = requirementOf(values.require ?? []);
  const params = paramsFor(requirement, values.param ?? []);
  let guard: Guard;
  try {
    guard = createGuard(guardOptions(values, env));
  } catch (e) {
    if (e instanceof TypeError) throw new CommandError(e.message, 2);
    throw e;
  }
  const token = await readToken(positionals[0], CHECK_USAGE);
  const required = requirement === undefined ? [] : compileRequirement(requirement).scopes;
  const json = values.json === true;
  try {
    const agent = await guard.verify("Bearer " + token, requirement, params);
    const stdout = json
      ? jsonText({ decision: "allow", status: 200, code: null, reason: null, required, params, agent: agentJson(agent), guard: guard.describe() })
      : allowText(agent, required, params, guard).join("\n") + "\n";
    return { stdout, exitCode: 0 };
  } catch (e) {
    if (!isGuardError(e)) throw e;
    const decision = e.status >= 500 ? "error" : "deny";
    const stdout = json
      ? jsonText({ decision, status: e.status, code: e.code, reason: e.reason, missing: e.code === "insufficient_scope" ? e.scope : [], required, guard: guard.describe() })
      : refusalText(e, guard).join("\n") + "\n";
    return { stdout, exitCode: decision === "error" ? 2 : 1 };
  }
}
