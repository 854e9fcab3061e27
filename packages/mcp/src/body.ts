/**
 * Request bodies read so that no client can crash the process, stall it or make the gate buffer
 * more than `maxBytes`: a body over the cap (declared or sent), one that stops arriving, one cut
 * off by the client, and a client that resets the connection each end the read exactly once, with
 * every listener removed and the rest of the body discarded (never queued anywhere). The caller
 * answers once; the server keeps serving.
 */
import { jsonRpcErrorResponse, JSON_RPC_PARSE_ERROR, type HttpResponse } from "./http.js";

/** Bounds on one body. */
export interface BodyLimits {
  /** Largest body read, in bytes. */
  readonly maxBytes: number;
  /** Longest wait for the whole body, in milliseconds. */
  readonly timeoutMs: number;
}

/**
 * Why a body was not read: over the cap, not complete in time, cut off or reset by the client,
 * or already consumed by something else (a wiring mistake: nobody can tell what it held).
 */
export type BodyFailure = "too_large" | "timeout" | "aborted" | "consumed";

export type BodyRead = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly failure: BodyFailure };

/** What the reader needs of Node's `IncomingMessage` (structural: no `node:` import). */
export interface NodeBodyStream {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly readableEnded?: boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  resume(): unknown;
}

/** Default `maxBytes`: the MCP SDK's own limit (4 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default `timeoutMs`: generous for a JSON-RPC body, short enough that a trickle cannot hold a connection for long. */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

const noop = (): void => undefined;

function declaredLength(value: string | readonly string[] | null | undefined): number | undefined {
  if (typeof value !== "string" || !/^\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

/** UTF-8 text, chunk by chunk (a character split between chunks is joined; invalid bytes become U+FFFD). */
class Text {
  readonly #decoder = new TextDecoder();
  #text = "";
  size = 0;
  add(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    this.#text += this.#decoder.decode(chunk, { stream: true });
  }
  done(): string {
    return this.#text + this.#decoder.decode();
  }
}

/** Lets the rest of a Node request flow into nothing; an error later on can no longer be unhandled. */
function discard(req: NodeBodyStream): void {
  req.on("error", noop);
  req.resume();
}

/**
 * Reads a Node request body (Express, plain `node:http`) as UTF-8 text within `limits`. Never
 * rejects. A declared `Content-Length` over the cap is refused without reading anything.
 */
export function readNodeBody(req: NodeBodyStream, limits: BodyLimits): Promise<BodyRead> {
  if (req.readableEnded === true) return Promise.resolve({ ok: false, failure: "consumed" });
  const declared = declaredLength(req.headers["content-length"]);
  if (declared !== undefined && declared > limits.maxBytes) {
    discard(req);
    return Promise.resolve({ ok: false, failure: "too_large" });
  }
  return new Promise<BodyRead>((resolve) => {
    const text = new Text();
    let settled = false;
    const finish = (result: BodyRead): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      req.removeListener("aborted", onAborted);
      req.removeListener("close", onAborted);
      req.removeListener("error", onAborted);
      if (!result.ok) discard(req);
      resolve(result);
    };
    const onData = (chunk: unknown): void => {
      if (settled) return;
      if (!(chunk instanceof Uint8Array)) {
        // A request stream switched to text mode by someone else: not ours to interpret.
        finish({ ok: false, failure: "consumed" });
        return;
      }
      if (text.size + chunk.byteLength > limits.maxBytes) {
        finish({ ok: false, failure: "too_large" });
        return;
      }
      text.add(chunk);
    };
    const onEnd = (): void => {
      finish({ ok: true, text: text.done() });
    };
    const onAborted = (): void => {
      finish({ ok: false, failure: "aborted" });
    };
    const timer = setTimeout(() => {
      finish({ ok: false, failure: "timeout" });
    }, limits.timeoutMs);
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("aborted", onAborted);
    req.on("close", onAborted);
    req.on("error", onAborted);
  });
}

/**
 * Reads a Web `Request` body (fetch hosts, Hono) as UTF-8 text within `limits`. Never rejects;
 * on any failure the body stream is cancelled.
 */
export async function readWebBody(request: Request, limits: BodyLimits): Promise<BodyRead> {
  const body = request.body;
  if (body === null) return { ok: true, text: "" };
  if (request.bodyUsed || body.locked) return { ok: false, failure: "consumed" };
  const declared = declaredLength(request.headers.get("content-length"));
  if (declared !== undefined && declared > limits.maxBytes) {
    body.cancel().catch(noop);
    return { ok: false, failure: "too_large" };
  }
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      resolve("timeout");
    }, limits.timeoutMs);
  });
  const fail = (failure: BodyFailure): BodyRead => {
    // Not awaited: a stream that never settles must not hold this request.
    reader.cancel().catch(noop);
    return { ok: false, failure };
  };
  const text = new Text();
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timedOut]);
      if (next === "timeout") return fail("timeout");
      if (next.done) break;
      if (text.size + next.value.byteLength > limits.maxBytes) return fail("too_large");
      text.add(next.value);
    }
  } catch {
    return fail("aborted");
  } finally {
    clearTimeout(timer);
  }
  return { ok: true, text: text.done() };
}

/** The answer to a body that could not be read (not for `consumed`: that is the server's mistake). */
export function bodyFailureResponse(failure: Exclude<BodyFailure, "consumed">, limits: BodyLimits): HttpResponse {
  const close = (r: HttpResponse): HttpResponse => ({ ...r, headers: { ...r.headers, Connection: "close" } });
  switch (failure) {
    case "too_large":
      return close(jsonRpcErrorResponse(413, -32000, `Payload Too Large: Request body must not exceed ${String(limits.maxBytes)} bytes`));
    case "timeout":
      return close(jsonRpcErrorResponse(408, -32000, "Request Timeout: the request body did not arrive in time"));
    case "aborted":
      return close(jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: the request body was cut off"));
  }
}

/** Parses a body's text; `undefined` when it is not JSON. */
export function parseJson(text: string): { readonly value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** Checks a `BodyLimits` option pair. */
export function bodyLimits(maxBytes: unknown, timeoutMs: unknown, where: string): BodyLimits {
  const max = maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeout = timeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1) throw new TypeError(`${where}: maxBodyBytes must be a positive integer`);
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1 || timeout > 2_147_483_647) {
    throw new TypeError(`${where}: bodyTimeoutMs must be a positive integer of milliseconds`);
  }
  return { maxBytes: max, timeoutMs: timeout };
}
