/** Shared fixtures: a dev broker on 127.0.0.1 and JSON-RPC helpers. */
import { startDevBroker, type DevBroker, type DevBrokerOptions } from "@agentwrit/dev-broker";

export const RESOURCE = "https://mcp.example/mcp";
export const METADATA_URL = "https://mcp.example/.well-known/oauth-protected-resource/mcp";

export async function broker(options: DevBrokerOptions = { audience: RESOURCE }): Promise<DevBroker> {
  return startDevBroker(options);
}

let nextId = 1;
export function toolCall(name: string, args?: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: "2.0", id: nextId++, method: "tools/call", params: args === undefined ? { name } : { name, arguments: args } };
}

/** The attributes of a `Bearer a="b", c="d"` challenge. */
export function challenge(header: string | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === null || header === undefined) return out;
  for (const m of header.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
  return out;
}
