/** Loopback servers standing in for a broker (or JWKS endpoint) that is down, slow, broken or flapping. */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A URL on 127.0.0.1 where nothing listens (a port that was bound, then closed). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A server on 127.0.0.1 that accepts requests and never answers. */
export async function silentBroker(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** How a stand-in answers one request. */
export type StandInHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A loopback server whose behaviour can be switched between requests: a broker or JWKS stand-in
 * for fault injection, or (with {@link forwardTo}) a proxy in front of a real dev broker that can
 * be made to refuse connections and come back on the same port.
 */
export interface StandIn {
  readonly url: string;
  /** Requests received since start (or the last `resetCount`). */
  readonly requests: number;
  resetCount(): void;
  /** The handler for the next requests. */
  behave(handler: StandInHandler): void;
  /** Stops listening and drops every open connection: clients get "connection refused". */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  readonly listening: boolean;
  /** Runs `fn` after `ms` unless the stand-in is closed first (for late answers). */
  later(ms: number, fn: () => void): void;
  close(): Promise<void>;
}

export async function standIn(initial: StandInHandler): Promise<StandIn> {
  let handler = initial;
  let count = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    count++;
    handler(req, res);
  });
  server.keepAliveTimeout = 1000;
  const listenOn = (port: number) => new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await listenOn(0);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return count;
    },
    resetCount: () => {
      count = 0;
    },
    behave: (h) => {
      handler = h;
    },
    refuse: stop,
    resume: async () => {
      if (!server.listening) await listenOn(port);
    },
    get listening() {
      return server.listening;
    },
    later: (ms, fn) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await stop();
    },
  };
}

/** A handler that forwards each request to `target` (a base URL on 127.0.0.1) and streams the answer back. */
export function forwardTo(target: string): StandInHandler {
  const base = new URL(target);
  return (req, res) => {
    const upstream = httpRequest(
      { host: base.hostname, port: base.port, method: req.method, path: req.url, headers: { ...req.headers, host: base.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
}

/** A handler that answers JSON (or any text) with a status. */
export function answer(status: number, body: unknown, contentType = "application/json"): StandInHandler {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return (req, res) => {
    req.resume();
    res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
}
