/**
 * One HTTP request through the gate, in order: the method (a wiring mistake without one), the
 * token, the session, the body (bounded, read only after the first two passed), then every gated
 * message. Whatever cannot tell whether the body it passes on was checked is a 500 naming the
 * mistake; a POST refused before its body was read closes the connection.
 */
import { toErrorResponse, type AgentIdentity, type GuardError } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Authorizer } from "./authorize.js";
import { bodyFailureResponse, parseJson, type BodyLimits, type BodyRead } from "./body.js";
import type { Resolution } from "./entries.js";
import { jsonRpcErrorResponse, JSON_RPC_INVALID_REQUEST, JSON_RPC_PARSE_ERROR, type HttpResponse } from "./http.js";
import { inspectBody, type GatedMessage } from "./json-rpc.js";
import type { GateLog } from "./log.js";
import { sessionNotFoundResponse, type McpSessions, type SessionRequest } from "./sessions.js";

/** The outcome of authenticating a request. */
export type GateAuthentication =
  | { readonly ok: true; readonly authInfo: AuthInfo; readonly identity: AgentIdentity }
  | { readonly ok: false; readonly response: HttpResponse; readonly error: GuardError };

/** A refused request: the response to send; `reason` (never sent) when the server is at fault. */
export interface GateRefusal {
  readonly ok: false;
  readonly response: HttpResponse;
  readonly error?: GuardError;
  readonly reason?: string;
}

/** An allowed request: hand `authInfo` to the transport; `session` goes to `gate.sessions.observe`. */
export interface GatePass {
  readonly ok: true;
  readonly authInfo: AuthInfo;
  readonly identity: AgentIdentity;
  readonly session: SessionRequest;
}

/** The outcome of checking a request. */
export type GateResult = GatePass | GateRefusal;

/**
 * A request body as an adapter has it: parsed by a body parser, read by the gate's reader, or
 * unusable because of the server's wiring (`reason` says what is wrong; answered 500).
 */
export type GateBody = { readonly parsed: unknown } | BodyRead | { readonly wiring: string };

/** A request as an adapter sees it, for {@link McpGate.checkHttp}. */
export interface GateHttpRequest {
  readonly authorization: string | null | undefined;
  readonly method: string;
  readonly sessionId: string | undefined;
  /** Called only after authentication and the session check, and only for POST (unless `bodyGiven`). */
  readonly body: () => Promise<GateBody>;
  /**
   * The caller already has the body (`gate.check`): it is checked whatever the method, since
   * nobody can tell what the code after the gate will do with a body it was handed.
   */
  readonly bodyGiven?: boolean | undefined;
  /**
   * The body is still on the connection (not read by a parser): a POST refused before reading it
   * is answered with `Connection: close`, so that the server does not read a body nobody wants.
   */
  readonly streamed?: boolean | undefined;
}

/** Bytes or a stream where the parsed JSON-RPC body belongs: nobody can tell what they hold. */
function isUnparsed(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  if (typeof Blob !== "undefined" && body instanceof Blob) return true;
  const o = body as { readonly getReader?: unknown; readonly pipe?: unknown };
  return typeof o.getReader === "function" || typeof o.pipe === "function";
}

/** Whether an HTTP method (from a caller that may pass anything) is POST. */
const isPost = (method: unknown): boolean => typeof method === "string" && method.toUpperCase() === "POST";

const WIRING_ANSWER = "Internal error: the server's authorization for this endpoint is misconfigured";

export interface RequestCheckerParts {
  readonly authenticate: (authorization: string | null | undefined) => Promise<GateAuthentication>;
  readonly sessions: McpSessions;
  readonly log: GateLog;
  readonly body: BodyLimits;
  readonly maxBatchSize: number;
  readonly resolve: (message: GatedMessage) => Resolution;
  readonly authorizer: Authorizer;
}

export interface RequestChecker {
  /** The gated messages of a parsed body: the refusal to answer with, if any, and whether it starts a session. */
  readonly decide: (identity: AgentIdentity, body: unknown) => { readonly refusal: HttpResponse | undefined; readonly initialize: boolean };
  readonly checkHttp: (request: GateHttpRequest) => Promise<GateResult & { readonly parsedBody?: unknown }>;
}

export function requestChecker(parts: RequestCheckerParts): RequestChecker {
  const { authenticate, sessions, log, authorizer } = parts;
  const wiring = (reason: string): GateRefusal => {
    log.wiring(reason);
    return { ok: false, response: jsonRpcErrorResponse(500, -32603, WIRING_ANSWER), reason };
  };

  const decide = (identity: AgentIdentity, body: unknown): { readonly refusal: HttpResponse | undefined; readonly initialize: boolean } => {
    const inspection = inspectBody(body, { maxBatchSize: parts.maxBatchSize });
    if (!inspection.ok) return { refusal: jsonRpcErrorResponse(400, JSON_RPC_INVALID_REQUEST, inspection.message), initialize: false };
    const resolutions = inspection.messages.map(parts.resolve);
    for (const r of resolutions) {
      if ("invalid" in r) return { refusal: jsonRpcErrorResponse(400, JSON_RPC_INVALID_REQUEST, `Invalid Request: ${r.invalid}`), initialize: false };
    }
    const refusal = authorizer.all(identity, resolutions);
    return { refusal: refusal === undefined ? undefined : toErrorResponse(refusal), initialize: inspection.initialize };
  };

  const checkHttp = async (request: GateHttpRequest): Promise<GateResult & { readonly parsedBody?: unknown }> => {
    const body = { read: false };
    const result = await checkParts({
      ...request,
      body: () => {
        body.read = true;
        return request.body();
      },
    });
    if (result.ok || body.read || request.streamed !== true || !isPost(request.method)) return result;
    return { ...result, response: { ...result.response, headers: { ...result.response.headers, Connection: "close" } } };
  };

  const checkParts = async (request: GateHttpRequest): Promise<GateResult & { readonly parsedBody?: unknown }> => {
    if (typeof request.method !== "string" || request.method === "") {
      return wiring("the gate was called without the request's HTTP method, so it cannot tell whether a body must be checked");
    }
    const method = request.method.toUpperCase();
    const auth = await authenticate(request.authorization);
    if (!auth.ok) return auth;
    const sessionId = request.sessionId;
    // An id this agent does not own is answered as an unknown one: ids cannot be probed.
    if (sessionId !== undefined && !sessions.owns(sessionId, auth.identity)) return { ok: false, response: sessionNotFoundResponse() };
    let parsedBody: unknown;
    if (method === "POST" || request.bodyGiven === true) {
      const body = await request.body();
      if ("wiring" in body) return wiring(body.wiring);
      if ("parsed" in body) {
        if (body.parsed === undefined && method === "POST") {
          return wiring("a POST reached the gate without its parsed body (check(authorization, parsedBody, method) needs the body the transport will get)");
        }
        if (isUnparsed(body.parsed)) {
          return wiring("the gate was given raw bytes or a stream, not the parsed JSON-RPC body: parse the body (JSON) and give the gate and the transport that same value");
        }
        parsedBody = body.parsed;
      } else if (!body.ok) {
        if (body.failure === "consumed") return wiring("the request body was already read by something else and no parsed body was given");
        return { ok: false, response: bodyFailureResponse(body.failure, parts.body) };
      } else {
        const parsed = parseJson(body.text);
        if (parsed === undefined) return { ok: false, response: jsonRpcErrorResponse(400, JSON_RPC_PARSE_ERROR, "Parse error: Invalid JSON") };
        parsedBody = parsed.value;
      }
    }
    const { refusal, initialize } = decide(auth.identity, parsedBody);
    if (refusal !== undefined) return { ok: false, response: refusal };
    const session: SessionRequest = { id: sessionId, initialize: initialize && sessionId === undefined, method };
    return { ok: true, authInfo: auth.authInfo, identity: auth.identity, session, parsedBody };
  };

  return { decide, checkHttp };
}
