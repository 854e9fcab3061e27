import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Behaviour = (req: IncomingMessage, res: ServerResponse, token: string | undefined) => void | Promise<void>;

/** A programmable stand-in for POST /v1/token/validate on 127.0.0.1. */
export interface FakeBroker {
  readonly url: string;
  calls: number;
  behaviour: Behaviour;
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body) + "\n");
}

export async function startFakeBroker(behaviour: Behaviour): Promise<FakeBroker> {
  const sockets = new Set<Socket>();
  const state = { calls: 0, behaviour };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      state.calls++;
      let token: string | undefined;
      try {
        token = (JSON.parse(Buffer.concat(chunks).toString()) as { token?: string }).token;
      } catch {
        token = undefined;
      }
      void Promise.resolve(state.behaviour(req, res, token)).catch(() => res.destroy());
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get calls() {
      return state.calls;
    },
    set calls(v: number) {
      state.calls = v;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(b: Behaviour) {
      state.behaviour = b;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Decodes the (unverified) payload of a token, as a broker stand-in answering valid:true would. */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}
