/** Shared by the client's integration tests: a recording fetch, loopback servers, JWT reading. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FetchFn } from "@agentwrit/client";

/** One request as the client sent it (the token is never kept: only whether there was one). */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly bearer: boolean;
  readonly body: unknown;
  readonly status: number;
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A `fetch` that records every request before passing it to the global fetch. */
export function recordingFetch(): { readonly fetch: FetchFn; readonly sent: SentRequest[]; paths(): string[] } {
  const sent: SentRequest[] = [];
  const fetchFn: FetchFn = async (input, init) => {
    const req = new Request(input, init);
    const text = req.body === null ? "" : await req.clone().text();
    const res = await fetch(input, init);
    sent.push({
      method: req.method,
      path: new URL(req.url).pathname,
      bearer: req.headers.get("authorization")?.startsWith("Bearer ") ?? false,
      body: text === "" ? undefined : parseOrText(text),
      status: res.status,
    });
    return res;
  };
  return { fetch: fetchFn, sent, paths: () => sent.map((s) => `${s.method} ${s.path}`) };
}

/** The JWT payload, decoded without verification. */
export function payload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A node:http server on 127.0.0.1 with a close that drops open connections. */
export interface Loopback {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<Loopback> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return wrap(server);
}

/** Wraps a server that is already listening on 127.0.0.1. */
export function wrap(server: Server): Loopback {
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

export async function readBody(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += (chunk as Buffer).toString("utf8");
  return text;
}
