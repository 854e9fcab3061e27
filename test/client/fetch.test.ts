/**
 * `agent.fetch` against real servers on 127.0.0.1: an API behind our Express guard (hybrid, with
 * the dev broker) and a second origin that must never see the token, whatever redirects say.
 */
import type { Server } from "node:http";
import { inspect } from "node:util";
import { AgentWritApp, AgentWritError, AuthenticationError, MAX_REDIRECTS, type Agent, type CreateAgentOptions } from "@agentwrit/client";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { buildChallenge } from "@agentwrit/guard";
import { agentwritGuard, requireScope } from "@agentwrit/guard-express";
import express from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { listen, payload, recordingFetch, wrap, type Loopback } from "./support.js";

let broker: DevBroker;
let client: AgentWritApp;
let api: Loopback;
let other: Loopback;
/** The Authorization header of every request each server received ("" when none). */
const apiSaw: string[] = [];
const otherSaw: string[] = [];
/** Tokens the API refuses once with 401 invalid_token (a resource server that saw them revoked, say). */
const refuseOnce = new Set<string>();
/** Agents whose every token the API refuses with 401 invalid_token. */
const refuseAgents = new Set<string>();
const rec = recordingFetch();

beforeAll(async () => {
  broker = await startDevBroker();
  const registered = await broker.registerApp({ name: "fetcher", scopes: ["read:data:*", "write:data:*"] });
  client = new AgentWritApp({ brokerUrl: broker.url, clientId: registered.clientId, clientSecret: registered.clientSecret, fetch: rec.fetch });
  other = await listen((req, res) => {
    otherSaw.push(req.headers.authorization ?? "");
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"other":true}');
  });
  const app = express();
  app.use((req, res, next) => {
    const auth = req.headers.authorization ?? "";
    apiSaw.push(auth);
    const token = auth.replace(/^Bearer /, "");
    if (refuseOnce.delete(token) || (token.includes(".") && refuseAgents.has(String(payload(token).sub)))) {
      res.status(401).set("WWW-Authenticate", buildChallenge({ error: "invalid_token", description: "token is no longer valid" })).json({ code: "token_inactive" });
      return;
    }
    next();
  });
  app.use(agentwritGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyPem }));
  app.get("/customers/:id", requireScope("read:data:customer-{id}"), (req, res) => {
    res.json({ id: req.params.id, agent: req.agentwrit!.agentId });
  });
  app.all("/echo", express.text({ type: "*/*" }), (req, res) => {
    res.json({ method: req.method, body: typeof req.body === "string" ? req.body : "", type: req.headers["content-type"] ?? null });
  });
  app.get("/to-other", (req, res) => res.redirect(Number(req.query.status ?? 302), other.url + "/stolen"));
  app.get("/to-self", (_req, res) => res.redirect(302, "/customers/42"));
  app.post("/see-other", (_req, res) => res.redirect(303, "/echo"));
  app.post("/temporary", (_req, res) => res.redirect(307, "/echo"));
  app.get("/to-self-then-other", (_req, res) => res.redirect(302, "/to-other"));
  app.get("/loop/:n", (req, res) => res.redirect(302, `/loop/${String(Number(req.params.n) + 1)}`));
  app.get("/userinfo", (_req, res) => res.redirect(302, `http://user:pw@${new URL(api.url).host}/customers/42`));
  api = wrap(await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  }));
});

afterAll(async () => {
  await api.close();
  await other.close();
  await broker.close();
});

beforeEach(() => {
  apiSaw.length = 0;
  otherSaw.length = 0;
  rec.sent.length = 0;
});

const make = (o: Partial<CreateAgentOptions> = {}): Promise<Agent> =>
  client.createAgent({ orchId: "o", taskId: "fetch", scope: ["read:data:customer-42"], allowedOrigins: [api.url], ...o });
const bearerOf = (a: Agent) => `Bearer ${a.accessToken}`;

describe("agent.fetch: where the token goes", () => {
  it("carries the token to an allowed origin", async () => {
    const agent = await make();
    const res = await agent.fetch(`${api.url}/customers/42`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "42", agent: agent.agentId });
    expect(apiSaw).toEqual([bearerOf(agent)]);
    expect((await agent.fetch(new URL("/customers/43", api.url))).status).toBe(403);
    expect((await agent.fetch(new Request(`${api.url}/customers/42`))).status).toBe(200);
  });

  it("refuses any other origin before sending anything", async () => {
    const agent = await make();
    await expect(agent.fetch(`${other.url}/x`)).rejects.toThrow(AgentWritError);
    await expect(agent.fetch(`${other.url}/x`)).rejects.toThrow(/is not one of the agent's allowedOrigins/);
    // Same host, another scheme or port, is another origin.
    await expect(agent.fetch(api.url.replace("http:", "https:") + "/x")).rejects.toThrow(AgentWritError);
    expect(otherSaw).toEqual([]);
  });

  it.each([301, 302, 303, 307, 308])("never follows a %i redirect to another origin: the redirect is the answer", async (status) => {
    const agent = await make();
    const res = await agent.fetch(`${api.url}/to-other?status=${String(status)}`);
    expect(res.status).toBe(status);
    expect(res.headers.get("location")).toBe(`${other.url}/stolen`);
    expect(otherSaw).toEqual([]);
  });

  it("follows a redirect within the allowed origins, with the token", async () => {
    const agent = await make();
    const res = await agent.fetch(`${api.url}/to-self`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: "42" });
    expect(apiSaw).toEqual([bearerOf(agent), bearerOf(agent)]);
    // …and stops at the first hop that leaves them.
    const twice = await agent.fetch(`${api.url}/to-self-then-other`);
    expect(twice.status).toBe(302);
    expect(otherSaw).toEqual([]);
  });

  it("303 turns a POST into a GET without body; 307 re-sends the same body", async () => {
    const agent = await make();
    const seeOther = await agent.fetch(`${api.url}/see-other`, { method: "POST", body: "payload", headers: { "content-type": "text/plain" } });
    expect(await seeOther.json()).toEqual({ method: "GET", body: "", type: null });
    const temporary = await agent.fetch(`${api.url}/temporary`, { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } });
    expect(await temporary.json()).toEqual({ method: "POST", body: '{"a":1}', type: "application/json" });
  });

  it(`stops after ${String(MAX_REDIRECTS)} redirects; redirect "manual" returns the first, "error" throws`, async () => {
    const agent = await make();
    const res = await agent.fetch(`${api.url}/loop/0`);
    expect(res.status).toBe(302);
    expect(apiSaw).toHaveLength(MAX_REDIRECTS + 1);
    const manual = await agent.fetch(`${api.url}/to-self`, { redirect: "manual" });
    expect(manual.status).toBe(302);
    await expect(agent.fetch(`${api.url}/to-self`, { redirect: "error" })).rejects.toThrow(TypeError);
  });

  it("never follows a redirect that adds credentials to the URL", async () => {
    const agent = await make();
    expect((await agent.fetch(`${api.url}/userinfo`)).status).toBe(302);
    expect(apiSaw).toHaveLength(1);
  });

  it("needs allowedOrigins, refuses a caller's own Authorization, and refuses origins that are not origins", async () => {
    const bare = await client.createAgent({ orchId: "o", taskId: "bare", scope: ["read:data:customer-42"] });
    await expect(bare.fetch(`${api.url}/customers/42`)).rejects.toThrow(/needs allowedOrigins/);
    const agent = await make();
    await expect(agent.fetch(`${api.url}/customers/42`, { headers: { Authorization: "Bearer other" } })).rejects.toThrow(/sets the Authorization header itself/);
    expect(apiSaw).toEqual([]);
    for (const bad of ["https://api.example/v1", "api.example", "ftp://api.example", "https://u:p@api.example", "https://api.example/?q=1"]) {
      await expect(make({ allowedOrigins: [bad] })).rejects.toThrow(/allowedOrigins/);
    }
    const normalised = await make({ allowedOrigins: [api.url + "/", new URL(other.url)] });
    expect(normalised.allowedOrigins).toEqual([api.url, other.url]);
  });
});

describe("agent.fetch: renewal", () => {
  it("renews shortly before expiry, then sends the new token", async () => {
    const agent = await make({ maxTtl: 60, renewBeforeSeconds: 60 });
    const first = agent.accessToken;
    expect((await agent.fetch(`${api.url}/customers/42`)).status).toBe(200);
    expect(agent.accessToken).not.toBe(first);
    expect(apiSaw).toEqual([bearerOf(agent)]);
    expect(rec.paths().filter((p) => p === "POST /v1/token/renew")).toHaveLength(1);
    expect((await client.validate(first)).valid).toBe(false);
  });

  it("the default window: a quarter of the lifetime, at most 30 s", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const agent = await make({ maxTtl: 100 });
      const first = agent.accessToken;
      vi.setSystemTime(Date.now() + 74_000); // 26 s left: outside the 25 s window
      await agent.fetch(`${api.url}/customers/42`);
      expect(agent.accessToken).toBe(first);
      vi.setSystemTime(Date.now() + 2_000); // 24 s left
      await agent.fetch(`${api.url}/customers/42`);
      expect(agent.accessToken).not.toBe(first);
    } finally {
      vi.useRealTimers();
    }
  });

  it("renews once after a 401 invalid_token and retries; concurrent refusals share one renewal", async () => {
    const agent = await make();
    const first = agent.accessToken;
    refuseOnce.add(first);
    const res = await agent.fetch(`${api.url}/customers/42`);
    expect(res.status).toBe(200);
    expect(apiSaw).toEqual([`Bearer ${first}`, bearerOf(agent)]);
    expect(agent.accessToken).not.toBe(first);
    const second = agent.accessToken;
    refuseOnce.add(second);
    rec.sent.length = 0;
    const all = await Promise.all([1, 2, 3].map(() => agent.fetch(`${api.url}/customers/42`)));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(rec.paths().filter((p) => p === "POST /v1/token/renew")).toHaveLength(1);
  });

  it("a second 401 is the answer (one renewal per request)", async () => {
    const agent = await make();
    refuseAgents.add(agent.agentId);
    const res = await agent.fetch(`${api.url}/customers/42`);
    expect(res.status).toBe(401);
    expect(apiSaw).toHaveLength(2);
    expect(rec.paths().filter((p) => p === "POST /v1/token/renew")).toHaveLength(1);
  });

  it("a token the broker will not renew (revoked): the renewal's AuthenticationError is thrown", async () => {
    const agent = await make();
    await broker.revoke("agent", agent.agentId);
    const e = await agent.fetch(`${api.url}/customers/42`).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AuthenticationError);
    expect(rec.paths().filter((p) => p === "POST /v1/token/renew")).toHaveLength(1);
    expect(apiSaw).toHaveLength(1);
  });

  it("after release: no renewal, the resource server's 401 is the answer", async () => {
    const agent = await make();
    await agent.release();
    rec.sent.length = 0;
    const res = await agent.fetch(`${api.url}/customers/42`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    expect(rec.paths()).toEqual(["GET /customers/42"]);
  });

  it("a 401 without invalid_token (no credentials accepted at all) is not a reason to renew", async () => {
    const bare = await listen((_req, res) => {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="x"' });
      res.end();
    });
    try {
      const agent = await make({ allowedOrigins: [bare.url] });
      rec.sent.length = 0;
      expect((await agent.fetch(bare.url)).status).toBe(401);
      expect(rec.paths()).toEqual(["GET /"]);
    } finally {
      await bare.close();
    }
  });
});

describe("agent.fetch never shows the token", () => {
  it("no console output, no token in errors, JSON or inspect", async () => {
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m));
    try {
      const agent = await make();
      refuseOnce.add(agent.accessToken);
      await agent.fetch(`${api.url}/customers/42`);
      await agent.fetch(`${api.url}/to-other`);
      const errors = [await agent.fetch(`${other.url}/x`).catch((e: unknown) => e), await agent.fetch(`${api.url}/x`, { headers: { authorization: "Bearer x" } }).catch((e: unknown) => e)];
      const texts = [...errors.map((e) => inspect(e)), JSON.stringify(agent), inspect(agent, { depth: 5 })];
      for (const t of texts) expect(t).not.toContain(String(payload(agent.accessToken).jti));
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
