/**
 * `agentwrit-guard probe --broker URL`: the broker's health and latency through `guard.probe()`
 * (`GET /v1/health`). Exit 0 when it answers ok, 1 otherwise, 2 on a usage mistake.
 */
import { CommandError, integerFlag, jsonText, NAME, parseCommandArgs, show, type Outcome } from "./cli-io.js";
import { createGuard, type Guard } from "./index.js";

export const PROBE_USAGE = `Usage: ${NAME} probe [--broker <url>] [--timeout-ms <n>] [--json]

Asks the broker's GET /v1/health and prints whether it answered ok, its version and the latency.

  --broker <url>      broker base URL (no /v1); default: AGENTWRIT_BROKER_URL
  --timeout-ms <n>    timeout (default 2000)
  --json              one JSON object for scripts
  -h, --help          show this help

Exit status: 0 ok, 1 down or not a broker, 2 usage.`;

export async function probe(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome | "help"> {
  const { values } = parseCommandArgs(
    argv,
    { broker: { type: "string" }, "timeout-ms": { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    0,
    PROBE_USAGE,
  );
  if (values.help === true) return "help";
  const brokerUrl = values.broker ?? (env.AGENTWRIT_BROKER_URL?.trim() || undefined);
  if (brokerUrl === undefined) throw new CommandError("no broker: pass --broker <url> (or set AGENTWRIT_BROKER_URL)", 2);
  const ms = integerFlag(values["timeout-ms"], "--timeout-ms", "milliseconds");
  let guard: Guard;
  try {
    guard = createGuard({ brokerUrl, brokerTimeoutMs: ms });
  } catch (e) {
    if (e instanceof TypeError) throw new CommandError(e.message, 2);
    throw e;
  }
  const url = guard.describe().brokerUrl ?? brokerUrl;
  const r = await guard.probe();
  const stdout =
    values.json === true
      ? jsonText({ ok: r.ok, brokerUrl: url, latencyMs: r.latencyMs, version: r.version ?? null, reason: r.reason ?? null })
      : r.ok
        ? `ok    ${url}  broker ${show(r.version ?? "(no version)")}  ${String(r.latencyMs)} ms\n`
        : `DOWN  ${url}  ${show(r.reason ?? "")}  (${String(r.latencyMs)} ms)\n`;
  return { stdout, exitCode: r.ok ? 0 : 1 };
}
