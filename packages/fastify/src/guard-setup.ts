/**
 * The plugin's guard and where it logs. By default the guard logs through the app's logger, and
 * each check passes the request's child logger (`request.log`, with its request id) to the guard.
 */
import {
  consoleLogger,
  isGuard,
  optionsFromEnv,
  splitAdapterOptions,
  type Guard,
  type GuardLogger,
  type GuardOptions,
} from "@agentwrit/guard";
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
  /** Pass `request.log` to the guard per request: the guard logs through the app's logger. */
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

function isEmpty(o: object): boolean {
  return Object.keys(o).every((k) => REGISTER_KEYS.includes(k));
}

/**
 * The input with the app's logger as the guard's `logger` where the guard is built here from
 * options that name none (and, zero-config, where `AGENTWRIT_LOG` chooses none).
 */
function withAppLogger(opts: AgentWritPluginOptions | Guard, log: FastifyBaseLogger, env: Readonly<Record<string, string | undefined>>): unknown {
  if (isGuard(opts)) return opts;
  if (isEmpty(opts)) {
    // Zero-config: the environment's shared guard, unless it needs the app's logger (then its own).
    return (env.AGENTWRIT_LOG ?? "").trim() !== "" ? opts : { ...optionsFromEnv(env), logger: log };
  }
  const given = opts.guard;
  if (given !== undefined) return isGuard(given) || given.logger !== undefined ? opts : { ...opts, guard: { ...given, logger: log } };
  return opts.logger !== undefined ? opts : { ...opts, logger: log };
}

export function setUpGuard(opts: AgentWritPluginOptions | Guard, log: FastifyBaseLogger): PluginSetup {
  const logging = isLogging(log);
  const env = process.env;
  const input = logging ? withAppLogger(opts, log, env) : opts;
  const { guard } = splitAdapterOptions(input, [], env, REGISTER_KEYS);
  // A guard with a logger described itself when it was created; one without is described here, once.
  if (logging && guard.logger === undefined) log.info({ ...guard.describe() }, "agentwrit: guard configured");
  const console = consoleLogger("error");
  return {
    guard,
    requestLog: logging && guard.logger === log,
    wiringLog: guard.logger ?? (logging || console === undefined ? log : console),
  };
}
