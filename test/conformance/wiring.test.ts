/**
 * Wiring across the three adapters, where the frameworks differ in what they can tell when: a
 * placeholder the route does not declare (Fastify knows the path at registration: TypeError;
 * Express and Hono learn it per request: 500 `requirement_param_missing`), and zero-config
 * guards, which share one guard (one cache, one broker call per request) per configuration,
 * measured on the dev broker's validate counter.
 */
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { agentwritGuard as expressGuard } from "@agentwrit/guard-express";
import { agentwrit } from "@agentwrit/guard-fastify";
import { agentwritGuard as honoGuard } from "@agentwrit/guard-hono";
import express from "express";
import Fastify, { type FastifyRequest } from "fastify";
import { Hono } from "hono";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

const AUDIENCE = "wiring-api";
let broker: DevBroker;
let token: string;

beforeAll(async () => {
  broker = await startDevBroker({ audience: AUDIENCE });
  token = `Bearer ${(await broker.createAgent({ orchId: "orch-1", taskId: "wiring", scope: ["write:data:order-7"] })).accessToken}`;
});
afterAll(() => broker.close());
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

function zeroConfigEnv(): void {
  vi.stubEnv("AGENTWRIT_BROKER_URL", broker.url);
  vi.stubEnv("AGENTWRIT_PUBLIC_KEY", "");
  vi.stubEnv("AGENTWRIT_AUDIENCE", AUDIENCE);
  vi.stubEnv("AGENTWRIT_ISSUER", "");
  vi.stubEnv("AGENTWRIT_LOG", "");
}

/** Sends `/orders/7` (allowed) and `/orders/8` (403) `rounds` times; the broker's validate calls per request. */
async function callsPerRequest(send: (path: string) => Promise<number>, rounds = 3): Promise<number> {
  broker.resetStats();
  for (let i = 0; i < rounds; i++) {
    expect(await send("/orders/7")).toBe(200);
    expect(await send("/orders/8")).toBe(403);
  }
  return broker.stats.validateCalls / (2 * rounds);
}

describe("zero-config adapters: one guard per configuration, one broker call per request", () => {
  it("Express: app.use(agentwritGuard()) and a zero-config route guard", async () => {
    zeroConfigEnv();
    const app = express();
    app.use(expressGuard());
    app.get("/orders/:id", expressGuard("write:data:order-{id}"), (_req, res) => void res.json({}));
    expect(await callsPerRequest(async (path) => (await request(app).get(path).set("Authorization", token)).status)).toBe(1);
  });

  it("Express, for contrast: two guards built from two option objects ask twice", async () => {
    const options = { brokerUrl: broker.url, audience: AUDIENCE, issuer: "" };
    const app = express();
    app.use(expressGuard(options));
    app.get("/orders/:id", expressGuard("write:data:order-{id}", options), (_req, res) => void res.json({}));
    expect(await callsPerRequest(async (path) => (await request(app).get(path).set("Authorization", token)).status)).toBe(2);
  });

  it("Hono: app.use('*', agentwritGuard()) and a zero-config route guard", async () => {
    zeroConfigEnv();
    const app = new Hono();
    app.use("*", honoGuard());
    app.get("/orders/:id", honoGuard("write:data:order-{id}"), (c) => c.json({}));
    expect(await callsPerRequest(async (path) => (await app.request(path, { headers: { authorization: token } })).status)).toBe(1);
  });

  it("Fastify: an app-wide agentwritGuard() hook and route config, zero-config plugin", async () => {
    zeroConfigEnv();
    const app = Fastify();
    await app.register(agentwrit);
    app.addHook("onRequest", app.agentwritGuard());
    app.get("/orders/:id", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, async () => ({}));
    expect(await callsPerRequest(async (path) => (await app.inject({ url: path, headers: { authorization: token } })).statusCode)).toBe(1);
    await app.close();
  });

  it("Express and Hono zero-config middlewares of one process share the guard's cache of refusals", async () => {
    zeroConfigEnv();
    const expressApp = express();
    expressApp.use(expressGuard());
    expressApp.get("/orders/:id", (_req, res) => void res.json({}));
    const honoApp = new Hono();
    honoApp.use("*", honoGuard());
    honoApp.get("/orders/:id", (c) => c.json({}));
    // A token the broker refuses is remembered by the guard: the second adapter does not ask again.
    const refused = `Bearer ${(await broker.createAgent({ orchId: "orch-1", taskId: "refused", scope: ["write:data:order-7"] })).accessToken}`;
    await broker.release(refused.slice("Bearer ".length));
    broker.resetStats();
    expect((await request(expressApp).get("/orders/7").set("Authorization", refused)).status).toBe(401);
    expect((await honoApp.request("/orders/7", { headers: { authorization: refused } })).status).toBe(401);
    expect(broker.stats.validateCalls).toBe(1);
  });
});

describe("a placeholder the route does not declare", () => {
  const requirement = "write:data:order-{id}";

  it("Express and Hono: 500 requirement_param_missing on every request, no challenge, the placeholder only in the log", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const options = { brokerUrl: broker.url, audience: AUDIENCE, issuer: "" };
    const expressApp = express();
    expressApp.get("/orders/:orderId", expressGuard(requirement, options), (_req, res) => void res.json({}));
    const honoApp = new Hono();
    honoApp.get("/orders/:orderId", honoGuard(requirement, options), (c) => c.json({}));
    const e = await request(expressApp).get("/orders/7").set("Authorization", token);
    const h = await honoApp.request("/orders/7", { headers: { authorization: token } });
    const hBody = await h.text();
    for (const [status, body, challenge] of [
      [e.status, e.text, e.headers["www-authenticate"]],
      [h.status, hBody, h.headers.get("www-authenticate") ?? undefined],
    ] as const) {
      expect(status).toBe(500);
      expect(challenge).toBeUndefined();
      expect(JSON.parse(body)).toMatchObject({ code: "requirement_param_missing", status: 500 });
      expect(body).not.toContain("{id}");
    }
  });

  it("Fastify: a TypeError when the route is declared, naming the route and the placeholder", async () => {
    const app = Fastify();
    await app.register(agentwrit, { brokerUrl: broker.url, audience: AUDIENCE, issuer: "" });
    const handler = async (req: FastifyRequest) => ({ agent: req.agentwrit?.agentId });
    expect(() => app.get("/orders/:orderId", { config: { agentwrit: { scope: requirement } } }, handler)).toThrow(/GET \/orders\/:orderId: .*\{id\}/);
    expect(() => app.get("/v2/orders/:orderId", { onRequest: app.agentwritGuard(requirement) }, handler)).toThrow(/GET \/v2\/orders\/:orderId: .*\{id\}/);
    await app.close();
  });
});
