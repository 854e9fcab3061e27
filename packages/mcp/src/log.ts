/**
 * The gate's own log lines: wiring mistakes (error; to `console.error` when no logger is
 * configured, since a developer must see them) and maps that miss a registered tool, resource or
 * prompt (warn, with a logger only). Each line is written once per distinct subject, within a
 * bound, so no request can flood the log. Never a token: subjects are the server's own names.
 */
import type { GuardLogger } from "@agentwrit/guard";

const MAX_SUBJECTS = 1024;

const fallback: GuardLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (obj, msg) => {
    console.error(msg ?? "", obj);
  },
};

export function isLogger(x: unknown): x is GuardLogger {
  return typeof x === "object" && x !== null && (["debug", "info", "warn", "error"] as const).every((l) => typeof (x as Record<string, unknown>)[l] === "function");
}

export class GateLog {
  readonly #seen = new Set<string>();

  constructor(readonly logger: GuardLogger | undefined) {}

  #once(level: "warn" | "error", subject: string, obj: Record<string, unknown>, msg: string): void {
    const logger = this.logger ?? (level === "error" ? fallback : undefined);
    if (logger === undefined || this.#seen.has(subject) || this.#seen.size >= MAX_SUBJECTS) return;
    this.#seen.add(subject);
    try {
      logger[level](obj, msg);
    } catch {
      // A faulty logger must never change an answer.
    }
  }

  /** A wiring mistake in the server (answered 500): logged once per reason. */
  wiring(reason: string): void {
    this.#once("error", "wiring:" + reason, { reason }, `agentwrit: MCP gate misconfigured: ${reason}`);
  }

  /** A registered name with no entry in the gate's map: logged once per name. */
  unmapped(kind: "tool" | "resource" | "resource template" | "prompt", name: string, opened: boolean): void {
    const map = kind === "tool" ? "tools" : kind === "prompt" ? "prompts" : "resources";
    const option = kind === "tool" ? "unlistedTools" : kind === "prompt" ? "unlistedPrompts" : "unlistedResources";
    const effect = opened ? `any authenticated agent may use it (${option}: "allow")` : `every request for it is refused (${option}: "deny")`;
    this.#once("warn", `unmapped:${kind}:${name}`, { [kind.replace(" ", "_")]: name }, `agentwrit: ${kind} ${JSON.stringify(name)} has no entry in the gate's ${map} map: ${effect}`);
  }
}
