import type { GuardErrorCode } from "./errors.js";

/**
 * An internal, allocation-light refusal. Verification code throws these; the guard turns them
 * into a `GuardError` (with realm, resource metadata and caps) at its public boundary.
 * Not an `Error`, so a flood of forged tokens costs no stack traces.
 */
export class Refusal {
  constructor(
    readonly code: GuardErrorCode,
    /** For operators: one short, token-free sentence (see `describeValue` for values from a token). */
    readonly reason: string | undefined,
    readonly cause?: unknown,
    readonly scope?: readonly string[],
  ) {}
}

/** Throws a `Refusal`; `reason` says why for operators (the code's default reason otherwise). */
export function refuse(code: GuardErrorCode, reason?: string, cause?: unknown, scope?: readonly string[]): never {
  throw new Refusal(code, reason, cause, scope);
}

const MAX_SHOWN = 48;

/**
 * A value taken from a request (a header field, a claim), quoted for a reason: JSON-quoted,
 * non-ASCII and controls escaped, and cut at 48 characters, so that no log line can carry a
 * whole token (any compact JWS is longer) or break a log format.
 */
export function describeValue(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (value === undefined) return "(absent)";
  else if (value === null) return "null";
  else if (typeof value === "number" || typeof value === "boolean") return String(value);
  else if (Array.isArray(value)) return "[" + value.slice(0, 4).map(describeValue).join(", ") + (value.length > 4 ? `, …${String(value.length - 4)} more` : "") + "]";
  else return `(${typeof value})`;
  const cut = text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) : text;
   
  const quoted = JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  return text.length > MAX_SHOWN ? quoted.slice(0, -1) + '…"' : quoted;
}
