/**
 * Scope step-up against our guard through all three adapters (Express, Fastify, Hono), with the
 * dev broker: a 403 `insufficient_scope` challenge goes to the agent's policy, which may get a
 * token for the missing scopes (a new agent for the same task within the app's ceiling, or a
 * delegation from a broader agent); the request is retried once. Nothing widens silently.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AgentWritApp,
  stepUpByDelegation,
  stepUpWithNewAgent,
  validate,
  type Agent,
  type CreateAgentOptions,
  type StepUpPolicy,
  type StepUpRequest,
} from "@agentwrit/client";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import type { AgentIdentity, GuardOptions } from "@agentwrit/guard";
import { agentwritGuard as expressGuard, requireScope as expressScope } from "@agentwrit/guard-express";
import { agentwrit as fastifyGuard } from "@agentwrit/guard-fastify";
import { agentwritGuard as honoGuard, requireScope as honoScope, type AgentWritEnv } from "@agentwrit/guard-hono";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { listen, payload, recordingFetch, wrap, type Loopback } from "./support.js";

/** What every API answers: who called, with which scope, through how many delegations. */
const who = (id: AgentIdentity) => ({ agent: id.agentId, scope: id.scope, depth: id.delegationDepth });

/** The same three routes on each adapter. */
const ADAPTERS: Record<string, (guard: GuardOptions, hits: string[]) => Promise<Loopback>> = {
  express: async (guard, hits) => {
    const app = express();
    app.use((req, _res, next) => {
      hits.push(`${req.method} ${req.path}`);
      next();
    });
    app.use(expressGuard(guard));
    app.get("/customers/:id", expressScope("read:data:customer-{id}"), (req, res) => res.json(who(req.agentwrit!)));
    app.post("/orders/:id/confirm", expressScope("write:data:order-{id}"), (req, res) => res.json(who(req.agentwrit!)));
    app.get("/reports", expressScope("read:reports:*"), (req, res) => res.json(who(req.agentwrit!)));
    return wrap(await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    }));
  },
  fastify: async (guard, hits) => {
    const app = Fastify();
    app.addHook("onRequest", async (req) => {
      hits.push(`${req.method} ${req.url}`);
    });
    await app.register(fastifyGuard, guard);
    app.get("/customers/:id", { config: { agentwrit: { scope: "read:data:customer-{id}" } } }, async (req) => who(req.agentwrit!));
    app.post("/orders/:id/confirm", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, async (req) => who(req.agentwrit!));
    app.get("/reports", { config: { agentwrit: { scope: "read:reports:*" } } }, async (req) => who(req.agentwrit!));
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { url: `http://127.0.0.1:${String((app.server.address() as AddressInfo).port)}`, server: app.server, close: () => app.close() };
  },
  hono: async (guard, hits) => {
    const app = new Hono<AgentWritEnv>();
    app.use("*", async (c, next) => {
      hits.push(`${c.req.method} ${c.req.path}`);
      await next();
    });
    app.use("*", honoGuard(guard));
    app.get("/customers/:id", honoScope("read:data:customer-{id}"), (c) => c.json(who(c.var.agentwrit)));
    app.post("/orders/:id/confirm", honoScope("write:data:order-{id}"), (c) => c.json(who(c.var.agentwrit)));
    app.get("/reports", honoScope("read:reports:*"), (c) => c.json(who(c.var.agentwrit)));
    const server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
    });
    return wrap(server);
  },
};

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker();
});
afterAll(() => broker.close());

let appCount = 0;

describe.each(Object.keys(ADAPTERS))("step-up through %s", (adapter) => {
  let api: Loopback;
  const hits: string[] = [];
  let client: AgentWritApp;
  const rec = recordingFetch();
  const asked: StepUpRequest[] = [];
  /** Records what the policy was asked, then defers to `inner`. */
  const recorded = (inner: StepUpPolicy): StepUpPolicy => (request) => {
    asked.push(request);
    return inner(request);
  };

  beforeAll(async () => {
    api = await ADAPTERS[adapter]!({ brokerUrl: broker.url, publicKey: broker.publicKeyPem }, hits);
    const registered = await broker.registerApp({ name: `step-up-${String(++appCount)}`, scopes: ["read:data:*", "write:data:*"] });
    client = new AgentWritApp({ brokerUrl: broker.url, clientId: registered.clientId, clientSecret: registered.clientSecret, fetch: rec.fetch });
  });
  afterAll(() => api.close());
  beforeEach(() => {
    hits.length = 0;
    rec.sent.length = 0;
    asked.length = 0;
  });

  const reader = (o: Partial<CreateAgentOptions> = {}): Promise<Agent> =>
    client.createAgent({ orchId: "shop", taskId: "order-7", scope: ["read:data:customer-42"], allowedOrigins: [api.url], ...o });
  const brokerCalls = () => rec.paths().filter((p) => p.includes(" /v1/"));

  it("without a policy the 403 challenge is the answer, and nothing is asked of the broker", async () => {
    const agent = await reader();
    rec.sent.length = 0;
    const res = await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    expect(res.headers.get("www-authenticate")).toContain('scope="write:data:order-7"');
    expect(brokerCalls()).toEqual([]);
    expect(hits).toEqual(["POST /orders/7/confirm"]);
  });

  it("a new agent for the same task: the policy is asked once, the request retried once, the grant reused", async () => {
    const agent = await reader({ stepUp: recorded(stepUpWithNewAgent(client)) });
    rec.sent.length = 0;
    const res = await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { agent: string; scope: string[]; depth: number };
    expect(body.agent).not.toBe(agent.agentId);
    expect(body.agent).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/shop\/order-7\//);
    expect(body.scope).toEqual(["read:data:customer-42", "write:data:order-7"]);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ agent, method: "POST", url: `${api.url}/orders/7/confirm`, missing: ["write:data:order-7"], held: ["read:data:customer-42"], wanted: ["read:data:customer-42", "write:data:order-7"] });
    expect(hits).toEqual(["POST /orders/7/confirm", "POST /orders/7/confirm"]);
    expect(brokerCalls()).toEqual(["POST /v1/app/launch-tokens", "GET /v1/challenge", "POST /v1/register"]);
    // The agent's own token is used first (least privilege); the grant only after a refusal it covers.
    hits.length = 0;
    expect((await agent.fetch(`${api.url}/customers/42`)).status).toBe(200);
    expect((await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" })).status).toBe(200);
    expect(asked).toHaveLength(1);
    expect(hits).toEqual(["GET /customers/42", "POST /orders/7/confirm", "POST /orders/7/confirm"]);
    await agent.release();
    const after = await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" });
    expect(after.status).toBe(401);
  });

  it("beyond the app's ceiling the step-up is declined: the launch token is refused once, never retried; the 403 stands", async () => {
    // `allow` agrees to the family the route names (the default declines wildcards before asking the broker).
    const agent = await reader({ stepUp: recorded(stepUpWithNewAgent(client, { allow: () => true })) });
    rec.sent.length = 0;
    const res = await agent.fetch(`${api.url}/reports`);
    expect(res.status).toBe(403);
    expect(asked.map((a) => a.missing)).toEqual([["read:reports:*"]]);
    expect(rec.sent.filter((s) => s.path === "/v1/app/launch-tokens").map((s) => s.status)).toEqual([403]);
    expect(hits).toEqual(["GET /reports"]);
  });

  it("a delegation from a broader agent: the retry carries this agent's identity, one delegation deep", async () => {
    const broader = await client.createAgent({ orchId: "shop", taskId: "supervisor", scope: ["read:data:*", "write:data:*"] });
    const agent = await reader({ stepUp: recorded(stepUpByDelegation(broader, { ttl: 120 })) });
    const res = await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: agent.agentId, scope: ["read:data:customer-42", "write:data:order-7"], depth: 1 });
    // A scope the delegator cannot cover is declined without asking the broker.
    rec.sent.length = 0;
    expect((await agent.fetch(`${api.url}/reports`)).status).toBe(403);
    expect(brokerCalls()).toEqual([]);
    await agent.release();
  });

  it("a policy that declines (or an allow callback that says no) leaves the 403, with one request to the API", async () => {
    const agent = await reader({ stepUp: recorded(stepUpWithNewAgent(client, { allow: (r) => !r.missing.some((s) => s.startsWith("write:")) })) });
    rec.sent.length = 0;
    const res = await agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" });
    expect(res.status).toBe(403);
    expect(asked).toHaveLength(1);
    expect(hits).toEqual(["POST /orders/7/confirm"]);
    expect(brokerCalls()).toEqual([]);
  });

  it("concurrent refusals for the same scopes make one grant", async () => {
    const agent = await reader({ stepUp: recorded(stepUpWithNewAgent(client)) });
    const all = await Promise.all([1, 2, 3].map(() => agent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" })));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(asked).toHaveLength(1);
    await agent.release();
  });

  it("releasing the agent releases its grants (new agents and delegated tokens alike)", async () => {
    const broader = await client.createAgent({ orchId: "shop", taskId: "boss", scope: ["read:data:*", "write:data:*"] });
    const grants: string[] = [];
    const keep = (inner: StepUpPolicy): StepUpPolicy => async (request) => {
      const g = await inner(request);
      if (g) grants.push(g.accessToken);
      return g;
    };
    const viaAgent = await reader({ stepUp: keep(stepUpWithNewAgent(client)) });
    const viaDelegation = await reader({ stepUp: keep(stepUpByDelegation(broader)) });
    expect((await viaAgent.fetch(`${api.url}/orders/7/confirm`, { method: "POST" })).status).toBe(200);
    expect((await viaDelegation.fetch(`${api.url}/orders/8/confirm`, { method: "POST" })).status).toBe(200);
    expect(grants).toHaveLength(2);
    for (const g of grants) expect((await validate(broker.url, g)).valid).toBe(true);
    await viaAgent.release();
    await viaDelegation.release();
    for (const g of grants) expect((await validate(broker.url, g)).valid).toBe(false);
    expect((await validate(broker.url, broader.accessToken)).valid).toBe(true);
  });
});

describe("a resource server that asks for a whole family (red team)", () => {
  /**
   * An allowed origin that refuses every request with a challenge naming `read:data:*` and keeps
   * the scope of every token it is sent: what a malicious or compromised API would collect.
   */
  async function greedy(): Promise<Loopback & { readonly seen: unknown[][] }> {
    const seen: unknown[][] = [];
    const api = await listen((req, res) => {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      seen.push(payload(token).scope as unknown[]);
      res.writeHead(403, { "www-authenticate": 'Bearer error="insufficient_scope", scope="read:data:*"' }).end();
    });
    return { ...api, seen };
  }

  it("is not handed a wildcard token by the default policies; an explicit allow can agree", async () => {
    const registered = await broker.registerApp({ name: "greedy-target", scopes: ["read:data:*", "write:data:*"] });
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: registered.clientId, clientSecret: registered.clientSecret });
    const api = await greedy();
    const broader = await client.createAgent({ orchId: "shop", taskId: "supervisor", scope: ["read:data:*", "write:data:*"] });
    try {
      for (const stepUp of [stepUpWithNewAgent(client), stepUpByDelegation(broader)]) {
        api.seen.length = 0;
        const agent = await client.createAgent({ orchId: "shop", taskId: "order-7", scope: ["read:data:customer-42"], allowedOrigins: [api.url], stepUp });
        const res = await agent.fetch(`${api.url}/customers/43`);
        expect(res.status).toBe(403);
        // One request, with the agent's own token: no step-up to a family the server named.
        expect(api.seen).toEqual([["read:data:customer-42"]]);
        await agent.release();
      }
      api.seen.length = 0;
      const opted = await client.createAgent({
        orchId: "shop",
        taskId: "order-7",
        scope: ["read:data:customer-42"],
        allowedOrigins: [api.url],
        stepUp: stepUpWithNewAgent(client, { allow: ({ missing }) => missing.every((s) => s === "read:data:*") }),
      });
      expect((await opted.fetch(`${api.url}/customers/43`)).status).toBe(403);
      expect(api.seen).toEqual([["read:data:customer-42"], ["read:data:customer-42", "read:data:*"]]);
      await opted.release();
    } finally {
      await broader.release();
      await api.close();
    }
  });
});
