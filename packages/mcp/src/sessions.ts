/**
 * Session binding for stateful Streamable HTTP: the session id a server issues on `initialize` is
 * bound to the agent that initialized it (its `sub`, `task_id` and delegation chain). A request carrying that
 * `Mcp-Session-Id` with another agent's token is answered exactly as an unknown session is (404,
 * the SDK's own answer), so session ids cannot be probed, and only the owner may `DELETE` it.
 * A session id the gate never saw issued is unknown too. Memory is bounded (least recently used
 * sessions go first) and an entry ends with its session.
 */
import type { AgentIdentity } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { getAgentIdentity } from "./auth-info.js";
import { jsonRpcErrorResponse, type HttpResponse } from "./http.js";

/** What a checked request means for sessions, carried by the gate's result to {@link McpSessions.observe}. */
export interface SessionRequest {
  /** The request's `Mcp-Session-Id`, if it sent one. */
  readonly id: string | undefined;
  /** An `initialize` request without a session id: its response may start a session. */
  readonly initialize: boolean;
  /** The HTTP method (upper case). */
  readonly method: string;
}

/** A transport whose end ends its session's binding (the SDK's transports have these members). */
export interface SessionTransport {
  readonly sessionId?: string | undefined;
  onclose?: (() => void) | undefined;
}

/** The gate's session bindings. */
export interface McpSessions {
  /** Sessions bound now. */
  readonly size: number;
  /** Most sessions kept (the least recently used is forgotten first; its owner must initialize again). */
  readonly max: number;
  /**
   * Binds a session id to an agent; `false` when the id is malformed or bound to another agent
   * (the first binding stays). The adapters call it for you; call it yourself from the
   * transport's `onsessioninitialized` when you use `gate.check` / `gate.checkRequest` directly.
   */
  bind(sessionId: string, owner: AgentIdentity | AuthInfo): boolean;
  /** Forgets a session (from the transport's `onsessionclosed`, or when it closes). */
  end(sessionId: string): void;
  /** Whether `who` owns `sessionId`. */
  owns(sessionId: string, who: AgentIdentity | AuthInfo | undefined): boolean;
  /** Ends the binding of `transport`'s session when the transport closes (chains its `onclose`). */
  track(transport: SessionTransport): void;
  /**
   * After the transport answered a checked request: binds the session a successful `initialize`
   * started (`Mcp-Session-Id` of the response), or forgets the one a successful `DELETE` ended.
   * The Express and Hono adapters call it; with `check` / `checkRequest`, call it with the response.
   */
  observe(result: { readonly identity: AgentIdentity; readonly session: SessionRequest }, status: number, responseSessionId: string | null | undefined): void;
}

/** The SDK transport's own answer to an unknown session, byte for byte: 404, JSON-RPC error -32001. */
export function sessionNotFoundResponse(): HttpResponse {
  const r = jsonRpcErrorResponse(404, -32001, "Session not found");
  return { ...r, headers: { "Content-Type": "application/json" } };
}

/** Default `maxSessions`. */
export const DEFAULT_MAX_SESSIONS = 10_000;

// The SDK's session ids are visible ASCII (0x21–0x7E); ours are bounded too.
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * Who holds a token: its `sub` and `task_id`, and the delegators it came through. A delegated
 * token names the delegate in `sub` but carries the delegator's `task_id`, and it is the delegator
 * who receives it: without the chain, any agent whose task_id matches (any app may name a task so)
 * could delegate to a session owner's id and use the owner's session.
 */
function ownerKey(who: AgentIdentity | AuthInfo | undefined): string | undefined {
  const identity = who === undefined ? undefined : "agentId" in who ? who : getAgentIdentity(who);
  if (identity === undefined) return undefined;
  let key = `${identity.agentId}\u0000${identity.taskId ?? ""}`;
  const chain: unknown = identity.delegationChain;
  if (Array.isArray(chain)) for (const record of chain as readonly { readonly agent: string }[]) key += `\u0000${record.agent}`;
  return key;
}

export function createSessions(max: number): McpSessions {
  // Insertion order is recency order: a use moves an entry to the end.
  const owners = new Map<string, string>();
  const sessions: McpSessions = {
    get size() {
      return owners.size;
    },
    max,
    bind(sessionId, owner) {
      const key = ownerKey(owner);
      if (key === undefined || !SESSION_ID.test(sessionId)) return false;
      const existing = owners.get(sessionId);
      if (existing !== undefined) return existing === key;
      owners.set(sessionId, key);
      if (owners.size > max) {
        const oldest = owners.keys().next();
        if (oldest.done !== true) owners.delete(oldest.value);
      }
      return true;
    },
    end(sessionId) {
      owners.delete(sessionId);
    },
    owns(sessionId, who) {
      const key = ownerKey(who);
      const owner = owners.get(sessionId);
      if (key === undefined || owner !== key) return false;
      owners.delete(sessionId);
      owners.set(sessionId, owner);
      return true;
    },
    track(transport) {
      const previous = transport.onclose;
      transport.onclose = () => {
        const id = transport.sessionId;
        if (id !== undefined) owners.delete(id);
        previous?.();
      };
    },
    observe(result, status, responseSessionId) {
      if (status < 200 || status > 299) return;
      const { session } = result;
      if (session.method === "DELETE" && session.id !== undefined) {
        owners.delete(session.id);
      } else if (session.initialize && session.id === undefined && typeof responseSessionId === "string" && responseSessionId !== "") {
        sessions.bind(responseSessionId, result.identity);
      }
    },
  };
  return sessions;
}

/** Reads a session id header value (Node gives a list for repeated headers it does not join). */
export function sessionIdOf(value: string | readonly string[] | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  // Several values can never name one session: keep them joined, which matches no session.
  const id = typeof value === "string" ? value : value.join(", ");
  // An empty header is no session id (the transport then asks for one).
  return id === "" ? undefined : id;
}
