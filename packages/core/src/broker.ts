/**
 * Client for the broker's `POST /v1/token/validate`, with a timeout, a bounded response read
 * and single-flight coalescing of concurrent calls for the same token. Every infrastructure
 * failure is a `broker_unavailable` refusal (503), never a pass and never a 401.
 */
import { readCappedText } from "./body.js";
import { Refusal, refuse } from "./refusal.js";

/** What the broker said about a token. */
export type BrokerVerdict =
  | { readonly valid: true; readonly claims: Readonly<Record<string, unknown>> }
  | { readonly valid: false; readonly rejected: boolean };

export interface BrokerClientOptions {
  readonly brokerUrl: string;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
  /** Largest response body accepted; anything larger is treated as a broker fault. */
  readonly maxResponseBytes: number;
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
    const p = this.#call(token).finally(() => this.#inFlight.delete(token));
    this.#inFlight.set(token, p);
    return p;
  }

  async #call(token: string): Promise<BrokerVerdict> {
    this.calls++;
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
      const body = await readCappedText(res.body, this.#opts.maxResponseBytes);
      if (body === undefined) throw new Error("response too large");
      text = body;
    } catch (e) {
      refuse("broker_unavailable", e instanceof Error ? new Error(`broker request failed: ${e.name}`) : undefined);
    }
    if (status === 400 || status === 413 || status === 401 || status === 403) return { valid: false, rejected: true };
    if (status !== 200) refuse("broker_unavailable", new Error(`broker answered HTTP ${status}`));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refuse("broker_unavailable", new Error("broker answered with a body that is not JSON"));
    }
    if (typeof body === "object" && body !== null) {
      const b = body as Record<string, unknown>;
      if (b.valid === false) return { valid: false, rejected: false };
      if (b.valid === true && typeof b.claims === "object" && b.claims !== null && !Array.isArray(b.claims)) {
        return { valid: true, claims: b.claims as Record<string, unknown> };
      }
    }
    throw new Refusal("broker_unavailable", new Error("broker answered with an unexpected body"));
  }
}
