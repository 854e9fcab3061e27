/**
 * One place where this package talks to the broker: base URL, timeout, User-Agent, the injected
 * `fetch`, bounded reading of every answer, and the mapping of failures to the error hierarchy.
 */
import { readCappedText } from "@agentwrit/guard";
import { AgentWritError, problemError, TransportError } from "./errors.js";
import { CLIENT_VERSION } from "./version.js";

/** A `fetch` implementation (the global one unless injected). */
export type FetchFn = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** How to reach the broker; shared by the app, its agents and the module-level functions. */
export interface BrokerOptions {
  /** Milliseconds per broker request. @default 10000 (the Python SDK's 10 s) */
  readonly timeoutMs?: number;
  /** @default "agentwrit-client-js/<version>" */
  readonly userAgent?: string;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumented clients). */
  readonly fetch?: FetchFn;
}

/** The largest broker answer read (tokens with hundreds of scopes stay around 10 KB). */
const MAX_BROKER_BODY_BYTES = 1024 * 1024;

export const DEFAULT_TIMEOUT_MS = 10_000;

/** A broker base URL: http(s), no credentials, no query; trailing slashes dropped as in the SDK. */
export function normalizeBrokerUrl(brokerUrl: string): string {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw new AgentWritError("brokerUrl must be an absolute http(s) URL");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new AgentWritError("brokerUrl must be an http(s) URL without credentials, query or fragment");
  }
  return url.href.replace(/\/+$/, "");
}

export interface BrokerAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body (`undefined` for an empty body). */
  readonly body: unknown;
}

/** A broker endpoint plus how to call it. */
export class BrokerConnection {
  readonly url: string;
  readonly timeoutMs: number;
  readonly userAgent: string;
  readonly fetch: FetchFn;

  constructor(brokerUrl: string, options: BrokerOptions = {}) {
    this.url = normalizeBrokerUrl(brokerUrl);
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0) throw new AgentWritError("timeoutMs must be a positive number");
    this.timeoutMs = timeout;
    this.userAgent = options.userAgent ?? `agentwrit-client-js/${CLIENT_VERSION}`;
    const injected = options.fetch;
    // Looked up per call, and never called as a method of another object (Workers refuse that).
    this.fetch = injected ?? ((input, init) => globalThis.fetch(input, init));
  }

  /**
   * One broker request. 2xx: the parsed body. Anything else: the matching `ProblemResponseError`.
   * Network errors and timeouts: `TransportError`. The token is only ever put in the header.
   */
  async call(method: "GET" | "POST", path: string, options: { token?: string; body?: unknown } = {}): Promise<BrokerAnswer> {
    const headers = new Headers({ "user-agent": this.userAgent, accept: "application/json" });
    if (options.token !== undefined) headers.set("authorization", `Bearer ${options.token}`);
    const init: RequestInit = { method, headers, redirect: "manual", signal: AbortSignal.timeout(this.timeoutMs) };
    if (options.body !== undefined) {
      headers.set("content-type", "application/json");
      init.body = JSON.stringify(options.body);
    }
    let res: Response;
    let text: string | undefined;
    try {
      res = await this.fetch(this.url + path, init);
      text = await readCappedText(res.body, MAX_BROKER_BODY_BYTES);
    } catch (e) {
      throw this.transportError(e);
    }
    if (text === undefined) throw new AgentWritError(`the broker's answer on ${path} exceeds ${String(MAX_BROKER_BODY_BYTES)} bytes`);
    if (res.status < 200 || res.status > 299) throw problemError(res.status, text, path, res.headers);
    let body: unknown;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        // The text is never quoted: a success body can hold a token.
        throw new AgentWritError(`the broker answered ${path} with a body that is not JSON`);
      }
    }
    return { status: res.status, headers: res.headers, body };
  }

  private transportError(e: unknown): TransportError {
    const name = e instanceof Error ? e.name : "";
    const reason =
      name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${String(this.timeoutMs)} ms`
        : e instanceof Error
          ? (e.cause instanceof Error ? e.cause.message : e.message)
          : String(e);
    return new TransportError(`broker unreachable at ${this.url}: ${reason}`, { cause: e });
  }
}

type Json = Readonly<Record<string, unknown>>;

/** The body as an object, or an error naming the path (never quoting the body). */
export function objectBody(answer: BrokerAnswer, path: string): Json {
  const b = answer.body;
  if (typeof b !== "object" || b === null || Array.isArray(b)) throw new AgentWritError(`the broker answered ${path} without a JSON object`);
  return b as Json;
}

/** A required string field of a broker answer. */
export function stringField(body: Json, key: string, path: string): string {
  const v = body[key];
  if (typeof v !== "string" || v === "") throw new AgentWritError(`the broker's answer on ${path} has no ${key}`);
  return v;
}

/** A required non-negative integer field of a broker answer. */
export function intField(body: Json, key: string, path: string): number {
  const v = body[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new AgentWritError(`the broker's answer on ${path} has no integer ${key}`);
  return v;
}
