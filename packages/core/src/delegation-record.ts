/**
 * Delegation records as the broker writes them (`DelegRecord`), their signing input and the
 * `chain_hash` bytes. These primitives are shared by the guard's delegation policy and by the
 * development broker, so both sides agree byte for byte.
 */
import { goJsonString, goJsonStringArray } from "./go-json.js";
import { sha256, toHex, utf8Encoder } from "./encoding.js";

/** One hop of a `delegation_chain`: the delegator, its full scope, when, and the broker's signature. */
export interface DelegationRecord {
  /** The delegator's subject (SPIFFE ID, or `admin` / `app:<id>`). */
  readonly agent: string;
  /** The delegator's full scope at delegation time. */
  readonly scope: readonly string[];
  /** RFC 3339 UTC timestamp with nanoseconds, trailing zeros dropped (Go's RFC3339Nano). */
  readonly delegated_at: string;
  /** 128 lowercase hex characters: Ed25519 by the broker key over {@link delegationSigningInput}. */
  readonly signature?: string;
}

/** The UTF-8 text the broker signs for a record: `agent|scope,scope|delegated_at`. */
export function delegationSigningInput(record: Pick<DelegationRecord, "agent" | "scope" | "delegated_at">): string {
  return record.agent + "|" + record.scope.join(",") + "|" + record.delegated_at;
}

/** The chain encoded exactly as Go's `json.Marshal([]DelegRecord)` writes it. */
export function goJsonChain(chain: readonly DelegationRecord[]): string {
  const parts = chain.map((r) => {
    let s =
      '{"agent":' +
      goJsonString(r.agent) +
      ',"scope":' +
      goJsonStringArray(r.scope) +
      ',"delegated_at":' +
      goJsonString(r.delegated_at);
    if (r.signature !== undefined && r.signature !== "") s += ',"signature":' + goJsonString(r.signature);
    return s + "}";
  });
  return "[" + parts.join(",") + "]";
}

/** `chain_hash`: lowercase hex SHA-256 of the Go JSON encoding of the complete chain. */
export async function computeChainHash(chain: readonly DelegationRecord[]): Promise<string> {
  return toHex(await sha256(utf8Encoder.encode(goJsonChain(chain))));
}

/**
 * Formats a time as Go's `time.RFC3339Nano` in UTC: fractional seconds without trailing zeros,
 * none at all for a whole second. `nanos` (0-999999999) refines the millisecond `date`.
 */
export function formatRfc3339Nano(date: Date, nanos?: number): string {
  const iso = date.toISOString(); // 2026-04-14T20:26:27.257Z
  const base = iso.slice(0, 19);
  const ns = nanos ?? date.getUTCMilliseconds() * 1_000_000;
  if (ns === 0) return base + "Z";
  const frac = String(ns).padStart(9, "0").replace(/0+$/, "");
  return base + "." + frac + "Z";
}
