/** Time and randomness, both injectable so tests can pin exact token bytes. */
import { randomBytes } from "node:crypto";
import { formatRfc3339Nano } from "@agentwrit/guard";

/** What a clock reading is for: `delegated_at` timestamps of delegation records, or anything else. */
export type ClockUse = "now" | "delegated_at";

/** Nanoseconds since the Unix epoch. */
export type NowFn = (use: ClockUse) => bigint;

/** What a random value is for. */
export type RandomKind =
  | "request_id"
  | "nonce"
  | "launch_token"
  | "jti"
  | "agent_instance"
  | "app_id"
  | "client_id"
  | "client_secret";

/** Returns lowercase hex of `bytes` random bytes for `kind`, or `undefined` for the default. */
export type RandomHexFn = (kind: RandomKind, bytes: number) => string | undefined;

const NS_PER_MS = 1_000_000n;
export const NS_PER_S = 1_000_000_000n;

/** The real wall clock with nanosecond resolution (monotonic between readings). */
export function systemNow(): NowFn {
  const base = BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint();
  return () => base + process.hrtime.bigint();
}

/** Clock and randomness used by every service. */
export class Env {
  constructor(
    private readonly nowFn: NowFn,
    private readonly randomFn: RandomHexFn | undefined,
  ) {}

  /** Current time in nanoseconds. */
  nowNs(use: ClockUse = "now"): bigint {
    return this.nowFn(use);
  }

  /** Current Unix time in whole seconds (Go's `time.Now().Unix()`). */
  nowSec(): number {
    const ns = this.nowFn("now");
    return Number((ns - (((ns % NS_PER_S) + NS_PER_S) % NS_PER_S)) / NS_PER_S);
  }

  /** Current time as Go's RFC3339Nano in UTC. */
  rfc3339Nano(use: ClockUse = "now"): string {
    return formatNs(this.nowFn(use));
  }

  /** Current time as RFC 3339 UTC to the second. */
  rfc3339(): string {
    return formatRfc3339Nano(new Date(this.nowSec() * 1000), 0);
  }

  /** `bytes` random bytes as lowercase hex. */
  randomHex(kind: RandomKind, bytes: number): string {
    const forced = this.randomFn?.(kind, bytes);
    if (forced !== undefined) {
      if (!new RegExp(`^[0-9a-f]{${String(bytes * 2)}}$`).test(forced)) {
        throw new TypeError(`randomHex hook: expected ${String(bytes * 2)} lowercase hex characters for ${kind}`);
      }
      return forced;
    }
    return randomBytes(bytes).toString("hex");
  }
}

/** Formats nanoseconds since the epoch as Go's RFC3339Nano (UTC). */
export function formatNs(ns: bigint): string {
  const frac = ((ns % NS_PER_S) + NS_PER_S) % NS_PER_S;
  const ms = Number((ns - frac) / NS_PER_MS);
  return formatRfc3339Nano(new Date(ms), Number(frac));
}
