/**
 * Express glue (`@agentwrit/guard-mcp/express`): the gate as middleware in front of the SDK's
 * `StreamableHTTPServerTransport`, and the RFC 9728 metadata endpoint. Type-only Express imports.
 */
import { authorizationFromRawHeaders, readCappedText } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { McpGate } from "./gate.js";
import { jsonRpcErrorResponse, JSON_RPC_PARSE_ERROR, type HttpResponse } from "./http.js";
import { metadataEndpoint, type ProtectedResourceMetadata, type ProtectedResourceMetadataOptions } from "./metadata.js";

function send(res: Response, r: HttpResponse): void {
  res.status(r.status).set(r.headers).send(r.body);
}

async function readBody(req: Request, maxBytes: number): Promise<{ ok: true; body: unknown } | { ok: false; response: HttpResponse }> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      });
      req.on("end", () => {
        controller.close();
      });
      req.on("error", (e) => {
        controller.error(e);
      });
    },
  });
  const text = await readCappedText(stream, maxBytes);
  if (text === undefined) return { ok: false, response: jsonRpcErrorResponse(413, -32000, "Request body too large") };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, response: jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: Invalid JSON") };
  }
}

export interface McpGateMiddlewareOptions {
  /** Largest body the middleware reads itself (when no body parser ran). @default 4 MiB */
  readonly maxBodyBytes?: number;
}

/**
 * Authenticates every request and checks every `tools/call` before the transport dispatches it.
 * On success sets `req.auth` (the `AuthInfo` the SDK transport reads) and, when no body parser
 * ran, `req.body`. Then call `transport.handleRequest(req, res, req.body)`: the transport must
 * get the very body that was checked.
 *
 * @example
 * app.post("/mcp", express.json(), mcpGateMiddleware(gate), (req, res) => transport.handleRequest(req, res, req.body));
 */
export function mcpGateMiddleware(gate: McpGate, options: McpGateMiddlewareOptions = {}): RequestHandler {
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  return (req: Request, res: Response, next: NextFunction): void => {
    const run = async (): Promise<void> => {
      const authorization = authorizationFromRawHeaders(req.rawHeaders) ?? req.headers.authorization;
      const auth = await gate.authenticate(authorization);
      if (!auth.ok) {
        send(res, auth.response);
        return;
      }
      if (req.method === "POST" && req.body === undefined) {
        const read = await readBody(req, maxBodyBytes);
        if (!read.ok) {
          send(res, read.response);
          return;
        }
        req.body = read.body;
      }
      const refusal = gate.authorizeBody(auth.identity, req.method === "POST" ? req.body : undefined);
      if (refusal !== undefined) {
        send(res, refusal);
        return;
      }
      (req as Request & { auth?: AuthInfo }).auth = auth.authInfo;
      next();
    };
    run().catch(next);
  };
}

/**
 * Serves the RFC 9728 document at `/.well-known/oauth-protected-resource/<path>` and
 * `/.well-known/oauth-protected-resource`. Mount at the application root: `app.use(...)`.
 */
export function protectedResourceMetadataRouter(options: ProtectedResourceMetadataOptions | ProtectedResourceMetadata): RequestHandler {
  const endpoint = metadataEndpoint(options);
  return (req: Request, res: Response, next: NextFunction): void => {
    const r = endpoint.respond(req.method, req.path);
    if (r === undefined) {
      next();
      return;
    }
    send(res, r);
  };
}
