/**
 * Body reading on a real Express server on 127.0.0.1: bodies over the cap (declared or not),
 * trickled, cut off, truncated and reset, each followed by a normal request that must succeed.
 * Before the fix, the first oversized body killed the process (ERR_INVALID_STATE: the request's
 * listeners kept enqueueing into a cancelled stream); vitest fails the run on that error.
 */
import type { DevBroker } from "@agentwrit/dev-broker";
import express from "express";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWebBody } from "../src/body.js";
import { mcpGateMiddleware } from "../src/express.js";
import { createMcpGate, type McpGate } from "../src/index.js";
import { head, rawRequest } from "./raw-http.js";
import { broker, RESOURCE, toolCall } from "./support.js";

let b: DevBroker;
let gate: McpGate;
let token: string;
let server: Server;
let port: number;
const handled: unknown[] = [];

beforeAll(async () => {
  b = await broker();
  gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, tools: { t: "read:records:x-{x}" }, maxBodyBytes: 1024, bodyTimeoutMs: 300 });
  token = (await b.createAgent({ orchId: "o", taskId: "a", scope: ["read:records:x-1"] })).accessToken;
  const app = express();
  app.post("/mcp", mcpGateMiddleware(gate), (req, res) => {
    handled.push(req.body);
    res.json({ ok: true });
  });
  app.post("/consumed", (req, _res, next) => {
    // Reads the stream without setting req.body: the gate can no longer tell what it held.
    req.on("data", () => undefined);
    req.on("end", () => {
      next();
    });
  }, mcpGateMiddleware(gate), (_req, res) => res.json({ ok: true }));
  app.post("/small", mcpGateMiddleware(gate, { maxBodyBytes: 16 }), (_req, res) => res.json({ ok: true }));
  app.post("/text", express.text({ type: "*/*" }), mcpGateMiddleware(gate), (_req, res) => res.json({ ok: true }));
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await b.close();
});

const url = (path = "/mcp"): string => `http://127.0.0.1:${String(port)}${path}`;
const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

/** A normal request after each hostile one: the server is alive and serving. */
async function stillServing(): Promise<void> {
  const res = await fetch(url(), { method: "POST", headers: auth(), body: JSON.stringify(toolCall("t", { x: "1" })) });
  expect(res.status).toBe(200);
}

describe("oversized bodies", () => {
  it("answers 413 once and keeps serving (fetch client, no declared limit exceeded until the body arrives)", async () => {
    const big = JSON.stringify(toolCall("t", { x: "a".repeat(256 * 1024) }));
    const res = await fetch(url(), { method: "POST", headers: auth(), body: big }).catch((e: unknown) => e);
    // Node's fetch may see the connection close before it finishes sending; either way no crash.
    if (res instanceof Response) {
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 }, id: null });
    }
    await new Promise((r) => setTimeout(r, 100));
    await stillServing();
  });

  it("refuses a declared Content-Length over the cap without reading it", async () => {
    const r = await rawRequest({ port, head: head("POST", "/mcp", { ...auth(), "content-length": 10_000_000 }), chunks: ["{"] });
    expect(r.status).toBe(413);
    expect(r.responses).toBe(1);
    expect(r.end).toBe("closed");
    await stillServing();
  });

  it("stops reading a chunked body at the cap, answers 413 once and closes", async () => {
    const chunk = (s: string): string => `${s.length.toString(16)}\r\n${s}\r\n`;
    const r = await rawRequest({
      port,
      head: head("POST", "/mcp", { ...auth(), "transfer-encoding": "chunked" }),
      chunks: Array.from({ length: 40 }, () => chunk("x".repeat(512))),
      gapMs: 2,
    });
    expect(r.status).toBe(413);
    expect(r.responses).toBe(1);
    await stillServing();
  });

  it("takes the middleware's own maxBodyBytes over the gate's", async () => {
    const res = await fetch(url("/small"), { method: "POST", headers: auth(), body: JSON.stringify(toolCall("t", { x: "1" })) });
    expect(res.status).toBe(413);
    expect(() => mcpGateMiddleware(gate, { maxBodyBytes: 0 })).toThrow(TypeError);
  });

  it("survives twenty oversized bodies at once", async () => {
    const all = await Promise.all(
      Array.from({ length: 20 }, () => rawRequest({ port, head: head("POST", "/mcp", { ...auth(), "content-length": 4096 }), chunks: ["x".repeat(4096)] })),
    );
    expect(all.every((r) => r.status === 413 && r.responses === 1)).toBe(true);
    await stillServing();
  });
});

describe("refusals before the body is read", () => {
  it.each([
    ["no token", {}, 401],
    ["a bad token", { authorization: "Bearer x.y.z" }, 401],
    ["another agent's (unknown) session", { authorization: "", "mcp-session-id": "0f4c" }, 404],
  ])("answer %s with Connection: close instead of reading a 10 MB body", async (_label, headers, status) => {
    const h: Record<string, string | number> = { "content-type": "application/json", "content-length": 10_000_000, ...headers };
    if (h.authorization === "") h.authorization = `Bearer ${token}`;
    const r = await rawRequest({ port, head: head("POST", "/mcp", h), chunks: ["{"] });
    expect(r.status).toBe(status);
    expect(r.text.toLowerCase()).toContain("connection: close");
    expect(r.end).toBe("closed");
    await stillServing();
  });
});

describe("bodies that do not arrive whole", () => {
  it("answers a trickle 408 after bodyTimeoutMs, while other requests are served", async () => {
    const slow = rawRequest({ port, head: head("POST", "/mcp", { ...auth(), "content-length": 500 }), chunks: Array.from({ length: 40 }, () => "x"), gapMs: 25 });
    await stillServing();
    const r = await slow;
    expect(r.status).toBe(408);
    expect(r.responses).toBe(1);
    await stillServing();
  });

  it.each(["destroy", "reset", "half-close"] as const)("survives a body cut off by the client (%s)", async (then) => {
    const before = handled.length;
    const r = await rawRequest({ port, head: head("POST", "/mcp", { ...auth(), "content-length": 1000 }), chunks: ['{"jsonrpc":"2.0"'], then, timeoutMs: 2000 });
    expect(r.status === undefined || r.status === 400).toBe(true);
    await stillServing();
    // Nothing half-read ever reached the handler.
    expect(handled.length).toBe(before + 1);
  });

  it("survives a reset before any body byte", async () => {
    await rawRequest({ port, head: head("POST", "/mcp", { ...auth(), "content-length": 100 }), then: "reset" });
    await stillServing();
  });
});

describe("wiring mistakes fail closed with a 500", () => {
  it("a body read by an earlier middleware without req.body", async () => {
    const res = await fetch(url("/consumed"), { method: "POST", headers: auth(), body: JSON.stringify(toolCall("t", { x: "2" })) });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: { code: -32603 } });
  });

  it("a text body parser before the gate", async () => {
    const res = await fetch(url("/text"), { method: "POST", headers: auth(), body: JSON.stringify(toolCall("t", { x: "2" })) });
    expect(res.status).toBe(500);
  });
});

describe("readWebBody", () => {
  const limits = { maxBytes: 8, timeoutMs: 100 };
  const request = (body: ReadableStream<Uint8Array>): Request => new Request(RESOURCE, { method: "POST", body, duplex: "half" } as RequestInit);
  const stream = (pull: (c: ReadableStreamDefaultController<Uint8Array>) => void | Promise<void>): ReadableStream<Uint8Array> => new ReadableStream({ pull });

  it("reads a body within the cap", async () => {
    expect(await readWebBody(new Request(RESOURCE, { method: "POST", body: "{}" }), limits)).toEqual({ ok: true, text: "{}" });
  });

  it("stops at the cap, on a stream that never ends, on an erroring stream, and on a consumed body", async () => {
    let pulls = 0;
    const endless = stream((c) => {
      pulls++;
      c.enqueue(new Uint8Array(4));
    });
    expect(await readWebBody(request(endless), limits)).toEqual({ ok: false, failure: "too_large" });
    expect(pulls).toBeLessThan(6);
    expect(await readWebBody(request(stream(() => new Promise(() => undefined))), limits)).toEqual({ ok: false, failure: "timeout" });
    expect(await readWebBody(request(stream((c) => c.error(new Error("reset")))), limits)).toEqual({ ok: false, failure: "aborted" });
    const used = new Request(RESOURCE, { method: "POST", body: "{}" });
    await used.text();
    expect(await readWebBody(used, limits)).toEqual({ ok: false, failure: "consumed" });
    expect(await readWebBody(new Request(RESOURCE, { method: "POST", body: "{}", headers: { "content-length": "99" } }), limits)).toEqual({ ok: false, failure: "too_large" });
  });
});
