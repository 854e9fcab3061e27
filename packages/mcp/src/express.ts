/**
 * Express glue (`@agentwrit/guard-mcp/express`): the gate as middleware in front of the SDK's
 * `StreamableHTTPServerTransport`, and the RFC 9728 metadata endpoint. Type-only Express imports.
 */
import { asNextError, authorizationFromRawHeaders } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { bodyLimits, readNodeBody, type BodyLimits } from "./body.js";
import type { GateBody, GatePass, McpGate } from "./gate.js";
import type { HttpResponse } from "./http.js";
import { metadataEndpoint, type ProtectedResourceMetadata, type ProtectedResourceMetadataOptions } from "./metadata.js";
import { sessionIdOf } from "./sessions.js";

function send(res: Response, r: HttpResponse): void {
  res.status(r.status).set(r.headers).send(r.body);
}

export interface McpGateMiddlewareOptions {
  /** Largest body the middleware reads itself (when no body parser ran). @default the gate's `maxBodyBytes` (4 MiB) */
  readonly maxBodyBytes?: number | undefined;
  /** Longest wait for that body, in milliseconds. @default the gate's `bodyTimeoutMs` (30 s) */
  readonly bodyTimeoutMs?: number | undefined;
}

function bodyOf(req: Request, limits: BodyLimits): Promise<GateBody> {
  const body: unknown = req.body;
  if (body === undefined) return readNodeBody(req, limits);
  if (body instanceof Uint8Array || typeof body === "string") {
    return Promise.resolve({
      wiring: `req.body is ${typeof body === "string" ? "a string" : "a Buffer"}: a text or raw body parser ran before mcpGateMiddleware; use express.json() or no parser`,
    });
  }
  return Promise.resolve({ parsed: body });
}

/** The `Mcp-Session-Id` a response carries, from `writeHead`'s arguments or the headers set before. */
function responseSessionId(res: Response, args: readonly unknown[]): string | undefined {
  for (const arg of args) {
    if (typeof arg !== "object" || arg === null) continue;
    const pairs: unknown[] = Array.isArray(arg) ? (Array.isArray(arg[0]) ? arg.flat() : arg) : Object.entries(arg).flat();
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const name = pairs[i];
      if (typeof name === "string" && name.toLowerCase() === "mcp-session-id") return String(pairs[i + 1]);
    }
  }
  const set = res.getHeader("mcp-session-id");
  return typeof set === "string" ? set : undefined;
}

/**
 * Binds the session an `initialize` starts (or forgets the one a `DELETE` ends) as the response
 * head is written: before the client can read the session id, so its next request finds it bound.
 */
function observeSession(gate: McpGate, result: GatePass, res: Response): void {
  if (!result.session.initialize && result.session.method !== "DELETE") return;
  const own = Object.getOwnPropertyDescriptor(res, "writeHead");
  const original = res.writeHead.bind(res) as (...args: unknown[]) => Response;
  res.writeHead = ((...args: unknown[]): Response => {
    // Once: put back what was there (another middleware's patch, or the prototype's), then write.
    if (own === undefined) delete (res as Partial<Response>).writeHead;
    else Object.defineProperty(res, "writeHead", own);
    const status = typeof args[0] === "number" ? args[0] : res.statusCode;
    gate.sessions.observe(result, status, responseSessionId(res, args.slice(1)));
    return original(...args);
  }) as Response["writeHead"];
}

/**
 * Authenticates every request, checks its `Mcp-Session-Id` against the agent that started the
 * session, and checks every message that touches data before the transport dispatches it. Reads
 * every `Authorization` header (several are refused). On success sets `req.auth` (the `AuthInfo`
 * the SDK transport reads) and, when no body parser ran, `req.body`. Then call
 * `transport.handleRequest(req, res, req.body)`: the transport must get the very body that was checked.
 *
 * @example
 * app.all("/mcp", mcpGateMiddleware(gate), (req, res) => transport.handleRequest(req, res, req.body));
 */
export function mcpGateMiddleware(gate: McpGate, options: McpGateMiddlewareOptions = {}): RequestHandler {
  const limits =
    options.maxBodyBytes === undefined && options.bodyTimeoutMs === undefined
      ? gate.bodyLimits
      : bodyLimits(options.maxBodyBytes ?? gate.bodyLimits.maxBytes, options.bodyTimeoutMs ?? gate.bodyLimits.timeoutMs, "mcpGateMiddleware");
  return (req: Request, res: Response, next: NextFunction): void => {
    const run = async (): Promise<void> => {
      const result = await gate.checkHttp({
        authorization: authorizationFromRawHeaders(req.rawHeaders) ?? req.headers.authorization,
        method: req.method,
        sessionId: sessionIdOf(req.headers["mcp-session-id"]),
        body: () => bodyOf(req, limits),
        streamed: req.body === undefined,
      });
      if (!result.ok) {
        send(res, result.response);
        return;
      }
      if (result.parsedBody !== undefined) req.body = result.parsedBody;
      (req as Request & { auth?: AuthInfo }).auth = result.authInfo;
      observeSession(gate, result, res);
      next();
    };
    run().catch((e: unknown) => {
      // Never next(undefined): Express would take a falsy rejection for a pass.
      next(asNextError(e));
    });
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
