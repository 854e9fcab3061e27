/**
 * Logging: any console- or pino-shaped logger (`debug`, `info`, `warn`, `error`; an object first,
 * then a message), rate-limited per level and code so that a flood of bad tokens cannot flood the
 * log. No line ever carries a token: callers pass codes, reasons (token-free by construction) and
 * identifiers only.
 */

/** What the guard logs through: `console`, a pino or Fastify logger, or anything shaped alike. */
export interface GuardLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** True for an object with the four level methods. */
export function isGuardLogger(x: unknown): x is GuardLogger {
  return typeof x === "object" && x !== null && LEVELS.every((l) => typeof (x as Record<string, unknown>)[l] === "function");
}

/**
 * A console logger that writes `level` and above (for `AGENTWRIT_LOG=debug|info|warn|error`),
 * each line prefixed `agentwrit:`; `undefined` for an empty or unknown level.
 */
export function consoleLogger(level: string | undefined, sink: Pick<Console, LogLevel> = console): GuardLogger | undefined {
  const min = LEVELS.indexOf(level?.trim().toLowerCase() as LogLevel);
  if (min < 0) return undefined;
  const at =
    (l: LogLevel) =>
    (obj: object, msg?: string): void => {
      if (LEVELS.indexOf(l) >= min) sink[l](`agentwrit: ${msg ?? ""}`, obj);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** At most `burst` lines per key per window; the first line after a suppression says how many were dropped. */
export interface RateLimit {
  readonly burst: number;
  readonly windowMs: number;
}

interface Window {
  startMs: number;
  count: number;
  suppressed: number;
}

/**
 * The rate limit, per `key` (a level and a code: a small, fixed set), shared by every logger a
 * guard writes to (its own, or a per-request one such as Fastify's `request.log`).
 */
export class LogLimiter {
  readonly #limit: RateLimit;
  readonly #windows = new Map<string, Window>();

  constructor(limit: RateLimit = { burst: 10, windowMs: 10_000 }) {
    this.#limit = limit;
  }

  /** `false` when over the limit; otherwise how many lines of this key were dropped before this one. */
  admit(key: string, now: number = Date.now()): number | false {
    let w = this.#windows.get(key);
    let suppressed = 0;
    if (w === undefined || now - w.startMs >= this.#limit.windowMs) {
      suppressed = w?.suppressed ?? 0;
      w = { startMs: now, count: 0, suppressed: 0 };
      this.#windows.set(key, w);
    }
    if (w.count >= this.#limit.burst) {
      w.suppressed++;
      return false;
    }
    w.count++;
    return suppressed;
  }
}

/** Writes one line; a logger that throws must never change a decision. */
export function writeLog(logger: GuardLogger, level: LogLevel, obj: Record<string, unknown>, msg: string): void {
  try {
    logger[level](obj, msg);
  } catch {
    // ignored on purpose
  }
}
