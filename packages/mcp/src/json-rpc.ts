/**
 * Reads the `tools/call` requests out of a JSON-RPC body (one message or a batch) without
 * trusting its shape. Everything that is not a tool call is left to the transport, which
 * validates it; a tool call whose name or arguments cannot be read is refused here, so nothing
 * is dispatched unchecked.
 */

/** One `tools/call` found in a body. */
export interface ToolCall {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

export type Inspection =
  | { readonly ok: true; readonly calls: readonly ToolCall[] }
  | { readonly ok: false; readonly message: string };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** The tool calls of a parsed body; `undefined` (no body: GET, DELETE) holds none. */
export function inspectBody(body: unknown): Inspection {
  if (body === undefined) return { ok: true, calls: [] };
  const messages: readonly unknown[] = Array.isArray(body) ? body : [body];
  if (messages.length === 0) return { ok: false, message: "Invalid Request: empty batch" };
  const calls: ToolCall[] = [];
  for (const message of messages) {
    if (!isObject(message)) return { ok: false, message: "Invalid Request: a JSON-RPC message must be an object" };
    // Every message named tools/call is checked, request or not: a notification is not answered
    // but must not be a way around the gate.
    if (message.method !== "tools/call") continue;
    const params = message.params;
    if (!isObject(params) || typeof params.name !== "string") {
      return { ok: false, message: "Invalid Request: tools/call needs params.name" };
    }
    const args = params.arguments;
    if (args !== undefined && !isObject(args)) return { ok: false, message: "Invalid Request: tools/call arguments must be an object" };
    calls.push({ name: params.name, arguments: args ?? EMPTY });
  }
  return { ok: true, calls };
}
