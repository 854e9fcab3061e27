/** Per-request context and the response writers every handler uses. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenClaims } from "./claims.js";
import { goJsonStringify } from "./go-json.js";

/** Everything a handler needs about one request. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The decoded URL path (Go's `r.URL.Path`). */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly requestId: string;
  /** The whole request body, read up front (at most 1 MiB). */
  readonly body: Buffer;
  /** The first `X-Forwarded-For` entry, else the socket's address. */
  readonly clientIp: string;
  /** Path parameters (`{id}`). */
  params: Readonly<Record<string, string>>;
  /** Set by the Bearer middleware. */
  claims?: TokenClaims;
  /** The raw Bearer token, set by the Bearer middleware. */
  token?: string;
}

/** Go's `http.StatusText` for the statuses the broker uses. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Request Entity Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
};

/** Every `error_code` the broker emits. */
export type ErrorCode =
  | "invalid_request"
  | "invalid_ttl"
  | "unauthorized"
  | "forbidden"
  | "insufficient_scope"
  | "scope_violation"
  | "not_found"
  | "payload_too_large"
  | "rate_limited"
  | "internal_error";

function send(ctx: RequestContext, status: number, contentType: string | undefined, body: string): void {
  const res = ctx.res;
  if (res.headersSent) return;
  if (contentType !== undefined) res.setHeader("Content-Type", contentType);
  const bytes = Buffer.from(body, "utf8");
  if (status !== 204) res.setHeader("Content-Length", bytes.length);
  res.writeHead(status);
  res.end(ctx.method === "HEAD" || status === 204 ? undefined : bytes);
}

/** An RFC 7807 body exactly as `problemdetails.WriteProblem` writes it (key order, newline). */
export function problemBody(status: number, code: ErrorCode, detail: string, instance: string, requestId: string): string {
  return (
    goJsonStringify({
      type: "urn:agentwrit:error:" + code,
      title: STATUS_TEXT[status] ?? "",
      status,
      detail,
      instance,
      error_code: code,
      request_id: requestId,
    }) + "\n"
  );
}

/** Writes a problem+json error. */
export function writeProblem(ctx: RequestContext, status: number, code: ErrorCode, detail: string): void {
  send(ctx, status, "application/problem+json", problemBody(status, code, detail, ctx.path, ctx.requestId));
}

/** Writes a JSON success body the way `json.NewEncoder(w).Encode(v)` does. */
export function writeJson(ctx: RequestContext, status: number, value: unknown): void {
  send(ctx, status, "application/json", goJsonStringify(value) + "\n");
}

/** Writes 204 No Content. */
export function writeNoContent(ctx: RequestContext): void {
  send(ctx, 204, undefined, "");
}

/** Writes a plain-text body as Go's `http.Error` does. */
export function writeText(ctx: RequestContext, status: number, text: string): void {
  ctx.res.setHeader("X-Content-Type-Options", "nosniff");
  send(ctx, status, "text/plain; charset=utf-8", text + "\n");
}

/** Writes an arbitrary body with a given content type. */
export function writeRaw(ctx: RequestContext, status: number, contentType: string | undefined, body: string): void {
  send(ctx, status, contentType, body);
}
