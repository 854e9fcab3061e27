/**
 * Handler wrappers for hosts that cannot gate at HTTP (or as a second line): the handler runs only
 * when `extra.authInfo` (made by this package) allows the request, with the same maps and rules
 * as the HTTP gate. A refused tool call is an MCP error result (`isError: true`); a refused
 * resource read or prompt is a JSON-RPC error (`McpError`), since those results have no error form.
 */
import { isGuardError, type AgentIdentity, type GuardError } from "@agentwrit/guard";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getAgentIdentity } from "./auth-info.js";

/** A handler result refusing a tool call in-band (MCP `isError` result). */
export type ToolRefusal = CallToolResult & { readonly isError: true };

function describe(err: GuardError): string {
  const scope = err.problem.scope !== undefined && err.problem.scope.length > 0 ? ` Required scope: ${err.problem.scope.join(" ")}.` : "";
  return `${err.problem.title} (${err.code}): ${err.problem.detail}${scope}`;
}

/** A tool-call refusal as an MCP tool result. */
export function toolRefusal(err: GuardError): ToolRefusal {
  return { isError: true, content: [{ type: "text", text: describe(err) }] };
}

/**
 * A resource or prompt refusal as a JSON-RPC error: `-32602` (invalid params) for a bad value,
 * `-32600` otherwise; `data` is the RFC 9457 problem (code, missing scopes; never a token).
 */
export function mcpRefusal(err: GuardError): McpError {
  return new McpError(err.status === 400 ? ErrorCode.InvalidParams : ErrorCode.InvalidRequest, describe(err), err.problem);
}

type Extra = { readonly authInfo?: AuthInfo | undefined } | undefined;

/**
 * Wraps `handler`: `check(identity, args)` throws core's `GuardError` to refuse; `refuse` turns
 * it into the handler's refusal (returned or thrown). `extra` is the SDK's last argument.
 */
export function guarded<A extends unknown[], R, F>(
  handler: (...args: A) => R,
  check: (identity: AgentIdentity, args: A) => void,
  missing: () => GuardError,
  refuse: (err: GuardError) => F,
): (...args: A) => R | F {
  return (...args: A): R | F => {
    const extra = args[args.length - 1] as Extra;
    const identity = getAgentIdentity(extra?.authInfo);
    if (identity === undefined) return refuse(missing());
    try {
      check(identity, args);
    } catch (e) {
      if (isGuardError(e)) return refuse(e);
      throw e;
    }
    return handler(...args);
  };
}

/** Throws instead of returning: for results that have no error form. */
export function thrown(err: GuardError): never {
  throw mcpRefusal(err);
}
