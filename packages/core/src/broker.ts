/**
 * Client for the broker's `POST /v1/token/validate`, with a timeout, a bounded response read
 * and single-flight coalescing of concurrent calls for the same token. Every infrastructure
 * failure is a `broker_unavailable` refusal (503), never a pass and never a 401.
 */
import { readCappedText } from "./body.js";
import { refuse } from "./refusal.js";
import type { Telemetry } from "./telemetry.js";

/** A network or timeout failure, described for operators (no request data). */
export function describeFetchFailure(e: unknown, timeoutMs: number): string {
  if (!(e instanceof Error)) return "failed";
  if (e.name === "TimeoutError" || e.name === "AbortError") return `timed out after ${String(timeoutMs)} ms`;
  const cause = (e as { cause?: unknown }).cause;
  const c = typeof cause === "object" && cause !== null ? (cause as { code?: unknown; message?: unknown }) : {};
  const detail = typeof c.code === "string" ? c.code : typeof c.message === "string" && c.message !== "" ? c.message.slice(0, 120) : e.message.slice(0, 120);
  return `failed: ${e.name}${detail === "" ? "" : ` (${detail})`}`;
}

/** What the broker said about a token. */
export type BrokerVerdict =
  | { readonly valid: true; readonly claims: Readonly<Record<string, unknown>> }
  | { readonly valid: false; readonly rejected: boolean; readonly status: number };

export interface BrokerClientOptions {
  readonly brokerUrl: string;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
  /** Largest response body accepted; anything larger is treated as a broker fault. */
  readonly maxResponseBytes: number;
  /** Records each call's duration (OpenTelemetry), when on. */
  readonly telemetry?: Telemetry | undefined;
}

export class BrokerClient {
  readonly #url: string;
  readonly #opts: BrokerClientOptions;
  readonly #inFlight = new Map<string, Promise<BrokerVerdict>>();
  /** Number of HTTP calls made (for diagnostics and benchmarks). */
  calls = 0;

  constructor(opts: BrokerClientOptions) {
    this.#opts = opts;
    this.#url = opts.brokerUrl + "/v1/token/validate";
  }

  /** Asks the broker; concurrent calls for the same token share one request. */
  validate(token: string): Promise<BrokerVerdict> {
    const pending = this.#inFlight.get(token);
    if (pending !== undefined) return pending;
    const t = this.#opts.telemetry;
    const call = t?.enabled === true ? t.brokerCall((seen) => this.#call(token, seen)) : this.#call(token);
    const p = call.finally(() => this.#inFlight.delete(token));
    this.#inFlight.set(token, p);
    return p;
  }

  async #call(token: string, seen?: { status?: number }): Promise<BrokerVerdict> {
    this.calls++;
    const what = `POST ${this.#url}`;
    const signal = AbortSignal.timeout(this.#opts.timeoutMs);
    let status: number;
    let text: string;
    try {
      const res = await this.#opts.fetch(this.#url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ token }),
        signal,
        redirect: "error",
      });
      status = res.status;
      if (seen !== undefined) seen.status = status;
      const body = await readCappedText(res.body, this.#opts.maxResponseBytes);
      if (body === undefined) {
        refuse("broker_unavailable", `${what} answered HTTP ${String(status)} with a body over ${String(this.#opts.maxResponseBytes)} bytes`);
      }
      text = body;
    } catch (e) {
      if (e instanceof Error && e.message === "fetch failed" && String((e as { cause?: unknown }).cause).includes("redirect")) {
        refuse("broker_unavailable", `${what} answered with a redirect, which is never followed: is brokerUrl the broker's own address?`, new Error("broker redirected"));
      }
      if (!(e instanceof Error)) throw e;
      refuse("broker_unavailable", `${what} ${describeFetchFailure(e, this.#opts.timeoutMs)}`, new Error(`broker request failed: ${e.name}`));
    }
    if (status === 400 || status === 413 || status === 401 || status === 403) return { valid: false, rejected: true, status };
    if (status === 404 || status === 405) {
      refuse("broker_misconfigured", `${what} answered HTTP ${String(status)}: brokerUrl must be the broker's base URL (no /v1 or other path)`, new Error(`broker answered HTTP ${String(status)}`));
    }
    if (status !== 200) refuse("broker_unavailable", `${what} answered HTTP ${String(status)}`, new Error(`broker answered HTTP ${String(status)}`));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refuse("broker_unavailable", `${what} answered HTTP 200 with a body that is not JSON: is brokerUrl an AgentWrit broker?`);
    }
    if (typeof body === "object" && body !== null) {
      const b = body as Record<string, unknown>;
      if (b.valid === false) return { valid: false, rejected: false, status };
      if (b.valid === true && typeof b.claims === "object" && b.claims !== null && !Array.isArray(b.claims)) {
        return { valid: true, claims: b.claims as Record<string, unknown> };
      }
    }
    refuse("broker_unavailable", `${what} answered HTTP 200 with JSON that is not a validate answer ({valid, claims})`);
  }
}
