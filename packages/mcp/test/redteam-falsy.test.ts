/**
 * Red team of the MCP Express gate's error path: a value Express's `next()` reads as "go on"
 * must never come out of the gate. Falsy values are handled (asNextError); Express also reads
 * `next("route")` (skip to the next matching route) and `next("router")` (leave the router) as
 * passes, not errors.
 */
import express from "express";
import request from "supertest";
import { describe, expect, it, vi } from "vitest";
import { mcpGateMiddleware } from "../src/express.js";
import { createMcpGate, ANY_AGENT } from "../src/index.js";
import { makeKey, mint, bearer, claims } from "../../../test/support/tokens.js";
import { RESOURCE, toolCall } from "./support.js";

const key = makeKey();
const gate = createMcpGate({ guard: { publicKey: key.publicKeyPem, resource: RESOURCE }, tools: { whoami: ANY_AGENT } });
const forged = mint(makeKey(), claims({ aud: RESOURCE }), { kid: key.kid });

describe("red team: mcpGateMiddleware's error path", () => {
  it.each(["route", "router"])("a rejection with %j never reaches an unguarded route after the gate", async (value) => {
    const reached = vi.fn();
    const router = express.Router();
    router.post("/mcp", mcpGateMiddleware(gate), (_req, res) => res.json({ gated: true }));
    router.post("/mcp", (_req, res) => {
      reached();
      res.json({ unguarded: true });
    });
    const app = express();
    app.use(express.json());
    app.use(router);
    app.post("/mcp", (_req, res) => {
      reached();
      res.json({ unguarded: true });
    });
    const spy = vi.spyOn(gate, "checkHttp").mockImplementation(() => Promise.reject(value)); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- the hostile case under test
    try {
      const res = await request(app).post("/mcp").set("authorization", bearer(forged)).send(toolCall("whoami", {}));
      expect(reached).not.toHaveBeenCalled();
      expect(res.status).toBe(500);
    } finally {
      spy.mockRestore();
    }
  });
});
