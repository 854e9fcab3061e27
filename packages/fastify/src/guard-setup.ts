/**
 * The plugin's guard and where it logs. A guard without a logger of its own logs through the
 * app's: each check passes the request's child logger (`request.log`, with its request id).
 */
import { consoleLogger, logGuardConfiguration, splitAdapterOptions, type Guard, type GuardLogger, type GuardOptions } from "@agentwrit/guard";
import type { FastifyBaseLogger } from "fastify";

/** Plugin options: `GuardOptions` inline, or a shared `guard`; nothing at all reads `AGENTWRIT_*` from `process.env`. */
export interface AgentWritPluginOptions extends GuardOptions {
  /** A guard shared with other routes or adapters (or its options). */
  readonly guard?: Guard | GuardOptions | undefined;
}

/** Options Fastify's `register` itself understands; they are not guard options. */
const REGISTER_KEYS = ["prefix", "logLevel", "logSerializers"];

export interface PluginSetup {
  readonly guard: Guard;
  /** Pass `request.log` to the guard per request: a guard without a logger logs through the app's. */
  readonly requestLog: boolean;
  /** Where wiring mistakes the guard does not log itself are written (once each). */
  readonly wiringLog: GuardLogger;
}

/**
 * True when the app's logger writes somewhere. Fastify's logger when disabled (and pino at
 * `silent`) is one and the same no-op function at every level.
 */
function isLogging(log: FastifyBaseLogger): boolean {
  return !(log.debug === log.info && log.info === log.warn && log.warn === log.error);
}

/**
 * The plugin's guard, as given: a guard, one built from options, or with no options the one
 * shared by every zero-config adapter of the environment. A guard without a logger of its own
 * logs through the app's logger: its configuration once on `app.log` (here), and each check
 * passes `request.log` for its decisions.
 */
export function setUpGuard(opts: AgentWritPluginOptions | Guard, log: FastifyBaseLogger): PluginSetup {
  const logging = isLogging(log);
  const { guard } = splitAdapterOptions(opts, [], process.env, REGISTER_KEYS);
  const requestLog = logging && guard.logger === undefined;
  if (requestLog) logGuardConfiguration(log, guard.describe());
  const console = consoleLogger("error");
  return {
    guard,
    requestLog,
    wiringLog: guard.logger ?? (logging || console === undefined ? log : console),
  };
}
