/**
 * The HTTP server and the broker's middleware order (B.1.1): request ID → body limit →
 * security headers → mux → per-route wrappers → handler. Nothing is logged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { BrokerCore } from "./broker.js";
import { problemBody, writeProblem, type RequestContext } from "./http-context.js";
import { Router } from "./router.js";
import { ROUTES } from "./routes/index.js";

/** `MaxBytesBody`: 1 MiB. */
export const MAX_BODY_BYTES = 1 << 20;
// Beyond this the connection is dropped instead of drained.
const MAX_DRAIN_BYTES = 64 << 20;

type BodyResult = { kind: "ok"; body: Buffer } | { kind: "too_large" } | { kind: "error" };

function readBody(req: IncomingMessage): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        if (size > MAX_DRAIN_BYTES) {
          resolve({ kind: "too_large" });
          req.destroy();
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(tooLarge ? { kind: "too_large" } : { kind: "ok", body: Buffer.concat(chunks) });
    });
    req.on("error", () => {
      resolve(tooLarge ? { kind: "too_large" } : { kind: "error" });
    });
  });
}

function clientIp(req: IncomingMessage): string {
  const xff = req.headers["x-forwarded-for"];
  const first = (Array.isArray(xff) ? xff.join(",") : xff)?.split(",")[0];
  if (first !== undefined && xff !== undefined && xff !== "") return first;
  return req.socket.remoteAddress ?? "";
}

function splitUrl(url: string): { path: string; rawQuery: string } | null {
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? "" : url.slice(q + 1);
  try {
    return { path: decodeURIComponent(rawPath), rawQuery };
  } catch {
    return null;
  }
}

export function createBrokerServer(b: BrokerCore): Server {
  const router = new Router(ROUTES);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    b.stats.requests++;
    const url = splitUrl(req.url ?? "/");
    if (url === null) {
      // Go's server rejects an unparsable request line before any handler runs.
      res.writeHead(400, { "Content-Type": "text/plain; charset=utf-8", Connection: "close" });
      res.end("400 Bad Request");
      return;
    }
    // RequestIDMiddleware
    const headerId = req.headers["x-request-id"];
    const requestId = typeof headerId === "string" && headerId !== "" ? headerId : b.env.randomHex("request_id", 8);
    res.setHeader("X-Request-ID", requestId);
    const method = req.method ?? "GET";
    // MaxBytesBody (before SecurityHeaders, so a 413 carries none).
    const body = await readBody(req);
    const ctx: RequestContext = {
      req,
      res,
      method,
      path: url.path,
      query: new URLSearchParams(url.rawQuery),
      requestId,
      body: body.kind === "ok" ? body.body : Buffer.alloc(0),
      clientIp: clientIp(req),
      params: {},
    };
    if (body.kind === "too_large") {
      writeProblem(ctx, 413, "payload_too_large", "request body must not exceed 1 MB");
      return;
    }
    if (body.kind === "error") {
      writeProblem(ctx, 400, "invalid_request", "failed to read request body");
      return;
    }
    // SecurityHeaders
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("X-Frame-Options", "DENY");
    await router.dispatch(b, ctx, url.rawQuery);
  }

  const server = createServer(
    {
      maxHeaderSize: 1 << 20,
      requestTimeout: 15_000,
      headersTimeout: 5_000,
      keepAliveTimeout: 120_000,
    },
    (req, res) => {
      handle(req, res).catch(() => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const id = String(res.getHeader("X-Request-ID") ?? "");
        const text = problemBody(500, "internal_error", "internal error", (req.url ?? "/").split("?")[0] ?? "/", id);
        res.writeHead(500, { "Content-Type": "application/problem+json" });
        res.end(text);
      });
    },
  );
  return server;
}
