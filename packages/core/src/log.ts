/**
 * Logging: any console- or pino-shaped logger (`debug`, `info`, `warn`, `error`; an object first,
 * then a message), rate-limited per level and code so that a flood of bad tokens cannot flood the
 * log. No line ever carries a token: callers pass codes, reasons (token-free by construction) and
 * identifiers only.
 */

import type { GuardDescription } from "./guard.js";

/** What the guard logs through: `console`, a pino or Fastify logger, or anything shaped alike. */
export interface GuardLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /**
   * Optional, as pino, Fastify and winston loggers have it: `false` for a level the logger drops,
   * so that the guard does not build a line for it. (A pino-shaped numeric `levelVal` is read
   * too; a logger with neither, such as `console`, gets every line.)
   */
  isLevelEnabled?(level: string): boolean;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
/** pino's numeric levels, for a logger that exposes `levelVal` but no `isLevelEnabled`. */
const PINO_LEVEL_VALUES: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/**
 * False when the logger says it drops `level` (`isLevelEnabled`, or pino's `levelVal`); true
 * otherwise, and whenever asking fails: a line is then built and written as before.
 */
export function levelEnabled(logger: GuardLogger, level: LogLevel): boolean {
  try {
    const l = logger as { isLevelEnabled?: unknown; levelVal?: unknown };
    if (typeof l.isLevelEnabled === "function") return (l.isLevelEnabled as (level: string) => unknown).call(logger, level) !== false;
    if (typeof l.levelVal === "number") return l.levelVal <= PINO_LEVEL_VALUES[level];
  } catch {
    // ignored on purpose
  }
  return true;
}

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
  const enabled = (l: string): boolean => LEVELS.indexOf(l as LogLevel) >= min;
  const at =
    (l: LogLevel) =>
    (obj: object, msg?: string): void => {
      if (enabled(l)) sink[l](`agentwrit: ${msg ?? ""}`, obj);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), isLevelEnabled: enabled };
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

/**
 * The lines a guard writes when it is created with a logger: its configuration at `info`, and a
 * warning for each check that is off (audience, issuer). Adapters that log for a guard without a
 * logger of its own (Fastify's `app.log`) write the same lines.
 */
export function logGuardConfiguration(logger: GuardLogger, description: GuardDescription): void {
  writeLog(logger, "info", { ...description }, "agentwrit: guard configured");
  if (description.audience === undefined) {
    writeLog(
      logger,
      "warn",
      { option: "audience" },
      "agentwrit: audience is not checked: tokens meant for any resource server of this broker are accepted (the broker writes aud only when AA_AUDIENCE is set; set audience to that value)",
    );
  }
  if (description.issuer === undefined) {
    writeLog(
      logger,
      "warn",
      { option: "issuer" },
      'agentwrit: issuer is not checked (the broker writes iss "" unless AA_ISSUER is set; set issuer to the same value)',
    );
  }
}
