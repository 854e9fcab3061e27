/**
 * Reads, out of a JSON-RPC body (one message or a batch), every message that touches data:
 * `tools/call`, `resources/read`, `resources/subscribe`, `prompts/get` and `completion/complete`,
 * without trusting the body's shape. Every message with one of those names is read, request or
 * notification (a notification is not answered but must not be a way around the gate); one that
 * cannot be read is refused, so nothing is dispatched unchecked. Everything else is left to the
 * transport, which validates it. The batch size is checked before anything else.
 */

/** One `tools/call` found in a body. */
export interface ToolCall {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** A message the gate decides on. */
export type GatedMessage =
  | { readonly kind: "tool"; readonly name: string; readonly arguments: Readonly<Record<string, unknown>> }
  | { readonly kind: "resource"; readonly uri: string }
  | { readonly kind: "prompt"; readonly name: string; readonly arguments: Readonly<Record<string, unknown>> }
  | {
      readonly kind: "completion";
      readonly ref: { readonly type: "prompt"; readonly name: string } | { readonly type: "resource"; readonly uri: string };
      /** `params.context.arguments`: values the client already chose, which the completer is told. */
      readonly arguments: Readonly<Record<string, unknown>>;
    };

export type Inspection =
  | {
      readonly ok: true;
      /** The `tools/call` messages (also in `messages`). */
      readonly calls: readonly ToolCall[];
      /** Every message the gate decides on, in body order. */
      readonly messages: readonly GatedMessage[];
      /** True when the body holds an `initialize` request (the response may start a session). */
      readonly initialize: boolean;
    }
  | { readonly ok: false; readonly message: string };

/** How much of a body the gate reads. */
export interface InspectOptions {
  /** Most messages in a batch. @default 100 (the MCP SDK's own limit) */
  readonly maxBatchSize?: number | undefined;
}

/** Default `maxBatchSize`: the MCP SDK's own. */
export const DEFAULT_MAX_BATCH_SIZE = 100;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

const refuse = (message: string): Inspection => ({ ok: false, message: `Invalid Request: ${message}` });

function argumentsOf(params: Record<string, unknown>): Readonly<Record<string, unknown>> | undefined {
  const args = params.arguments;
  if (args === undefined) return EMPTY;
  return isObject(args) ? args : undefined;
}

function read(method: string, params: unknown): GatedMessage | string | undefined {
  switch (method) {
    case "tools/call":
    case "prompts/get": {
      if (!isObject(params) || typeof params.name !== "string") return `${method} needs params.name`;
      const args = argumentsOf(params);
      if (args === undefined) return `${method} arguments must be an object`;
      return { kind: method === "tools/call" ? "tool" : "prompt", name: params.name, arguments: args };
    }
    case "resources/read":
    case "resources/subscribe":
      if (!isObject(params) || typeof params.uri !== "string") return `${method} needs params.uri`;
      return { kind: "resource", uri: params.uri };
    case "completion/complete": {
      const ref = isObject(params) ? params.ref : undefined;
      const context = isObject(params) ? params.context : undefined;
      const args = context === undefined ? EMPTY : isObject(context) ? argumentsOf(context) : undefined;
      if (args === undefined) return "completion/complete params.context.arguments must be an object";
      if (isObject(ref) && ref.type === "ref/prompt" && typeof ref.name === "string") return { kind: "completion", ref: { type: "prompt", name: ref.name }, arguments: args };
      if (isObject(ref) && ref.type === "ref/resource" && typeof ref.uri === "string") return { kind: "completion", ref: { type: "resource", uri: ref.uri }, arguments: args };
      return "completion/complete needs params.ref: a ref/prompt with a name or a ref/resource with a uri";
    }
    default:
      return undefined;
  }
}

/** The gated messages of a parsed body; `undefined` (no body: GET, DELETE) holds none. */
export function inspectBody(body: unknown, options: InspectOptions = {}): Inspection {
  if (body === undefined) return { ok: true, calls: [], messages: [], initialize: false };
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (Array.isArray(body)) {
    // First, before reading any message: a batch's size is all the work it may ask for.
    if (body.length > maxBatchSize) return refuse(`Batch must not exceed ${String(maxBatchSize)} messages`);
    if (body.length === 0) return refuse("empty batch");
  }
  const list: readonly unknown[] = Array.isArray(body) ? body : [body];
  const calls: ToolCall[] = [];
  const messages: GatedMessage[] = [];
  let initialize = false;
  for (const message of list) {
    if (!isObject(message)) return refuse("a JSON-RPC message must be an object");
    const method = message.method;
    if (typeof method !== "string") continue;
    if (method === "initialize") initialize = true;
    const gated = read(method, message.params);
    if (gated === undefined) continue;
    if (typeof gated === "string") return refuse(gated);
    messages.push(gated);
    if (gated.kind === "tool") calls.push({ name: gated.name, arguments: gated.arguments });
  }
  return { ok: true, calls, messages, initialize };
}
