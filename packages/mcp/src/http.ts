/** Plain-value HTTP responses, so the gate and the metadata endpoint need no framework. */
import type { ErrorResponse } from "@agentwrit/guard";

/** A ready-to-send response: status, headers and a text body (core's `ErrorResponse` shape). */
export type HttpResponse = ErrorResponse;

/** JSON-RPC 2.0 error codes the gate answers with before the transport sees a request. */
export const JSON_RPC_PARSE_ERROR = -32700;
export const JSON_RPC_INVALID_REQUEST = -32600;

/** A 4xx answer with a JSON-RPC error body (`id: null`), as the SDK transport itself sends. */
export function jsonRpcErrorResponse(status: number, code: number, message: string): HttpResponse {
  return {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    body: JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
  };
}

/** Turns a plain response into a Web `Response`. */
export function toWebResponse(r: HttpResponse): Response {
  return new Response(r.status === 204 || r.body === "" ? null : r.body, { status: r.status, headers: r.headers });
}
