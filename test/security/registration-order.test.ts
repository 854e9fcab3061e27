/**
 * Registration order and wiring mistakes, tried as a new user would make them, on real servers
 * listening on 127.0.0.1 with dev-broker tokens:
 *
 * - Fastify: a route declaring `config.agentwrit` is never served without the check, whatever
 *   the order of registration (routes before the plugin, in an encapsulated plugin registered
 *   earlier, `register` not awaited, the plugin inside the routes' own plugin);
 * - route configuration mistakes (a typo in `config.agentwrit`, a placeholder the route does not
 *   declare) are TypeErrors when the framework knows the route (Fastify), else 500s that blame
 *   the server, never 400/401s that blame the client; an optional parameter left out stays 400;
 * - `requireScope` with no guard before it: 500 `guard_not_mounted`, no challenge, on every
 *   adapter, and the server keeps serving;
 * - zero-config guards share one guard: one broker call per request.
 *
 * No case may crash the process or leave an unhandled rejection.
 */
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createGuard, type Guard } from "@agentwrit/guard";
import { agentwritGuard as expressGuard, requireScope as expressRequireScope } from "@agentwrit/guard-express";
import { agentwrit, type AgentWritRequest } from "@agentwrit/guard-fastify";
import { agentwritGuard as honoGuard, requireScope as honoRequireScope } from "@agentwrit/guard-hono";
import express from "express";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { serveOn, type AnyApp, type Listening } from "../conformance/harness.js";
import { Report, type Tally } from "./report.js";

const AUDIENCE = "registration-api";
const report = new Report();
let broker: DevBroker;
let guard: Guard;
let token: string;
let agent: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  // Express and Hono write each wiring mistake once to the console (the guard here has no logger).
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  broker = await startDevBroker({ audience: AUDIENCE });
  guard = createGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyPem, audience: AUDIENCE, issuer: "" });
  const created = await broker.createAgent({ orchId: "orch-1", taskId: "registration", scope: ["read:data:customer-42", "write:data:order-7"] });
  token = created.accessToken;
  agent = created.agentId;
});

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  vi.restoreAllMocks();
  await broker.close();
  report.write();
  expect(unhandled).toEqual([]);
});

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly challenge: string | null;
  readonly agent: string | undefined;
}

async function send(server: Listening, path: string, authorization: string | undefined, method = "GET"): Promise<Answer> {
  const res = await fetch(server.url + path, { method, headers: authorization === undefined ? {} : { authorization } });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { text };
  }
  return {
    status: res.status,
    code: typeof body.code === "string" ? body.code : undefined,
    challenge: res.headers.get("www-authenticate"),
    agent: typeof body.agent === "string" ? body.agent : undefined,
  };
}

interface Want {
  readonly status: number;
  readonly code?: string;
  /** `true`: the answer carries the verified agent. */
  readonly agent?: boolean;
  /** `false`: no `WWW-Authenticate` (a 500 is never a challenge). */
  readonly challenge?: boolean;
}

/** Checks one answer, counting it in the tally; returns a miss description or `undefined`. */
function judge(tally: Tally, name: string, got: Answer, want: Want): string | undefined {
  const ok =
    got.status === want.status &&
    (want.code === undefined || got.code === want.code) &&
    (want.agent !== true || got.agent === agent) &&
    (want.challenge !== false || got.challenge === null);
  return tally.check(name, ok) ? undefined : `${name}: got ${got.status} ${String(got.code)}, want ${want.status} ${String(want.code)}`;
}

const bearer = (): string => `Bearer ${token}`;
const READ42 = { config: { agentwrit: { scope: "read:data:customer-42" } } } as const;
const READ43 = { config: { agentwrit: { scope: "read:data:customer-43" } } } as const;
const fastifyHandler = async (request: AgentWritRequest) => ({ agent: request.agentwrit.agentId });

/** The Fastify orders of registration; each declares GET /a (read 42) and GET /b (read 43) under `prefix`. */
const ORDERS: Record<string, { prefix: string; build: () => Promise<FastifyInstance> }> = {
  "routes before the plugin, register awaited after": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      app.get("/a", READ42, fastifyHandler);
      app.get("/b", READ43, fastifyHandler);
      await app.register(agentwrit, { guard });
      return app;
    },
  },
  "register not awaited, routes right after": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      void app.register(agentwrit, { guard });
      app.get("/a", READ42, fastifyHandler);
      app.get("/b", READ43, fastifyHandler);
      return app;
    },
  },
  "routes in an encapsulated plugin registered earlier": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      await app.register(async (child) => {
        child.get("/a", READ42, fastifyHandler);
        child.get("/b", READ43, fastifyHandler);
      });
      await app.register(agentwrit, { guard });
      return app;
    },
  },
  "routes two plugins deep with a prefix, nothing awaited": {
    prefix: "/api",
    build: async () => {
      const app = Fastify();
      void app.register(
        async (api) => {
          void api.register(async (inner) => {
            inner.get("/a", READ42, fastifyHandler);
            inner.get("/b", READ43, fastifyHandler);
          });
        },
        { prefix: "/api" },
      );
      void app.register(agentwrit, { guard });
      return app;
    },
  },
  "the plugin inside the routes' own plugin, after them": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      void app.register(async (child) => {
        child.get("/a", READ42, fastifyHandler);
        child.get("/b", READ43, fastifyHandler);
        await child.register(agentwrit, { guard });
      });
      return app;
    },
  },
  "routes both before and after the plugin": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      app.get("/a", READ42, fastifyHandler);
      await app.register(agentwrit, { guard });
      app.get("/b", READ43, fastifyHandler);
      return app;
    },
  },
  "control: the plugin first": {
    prefix: "",
    build: async () => {
      const app = Fastify();
      await app.register(agentwrit, { guard });
      app.get("/a", READ42, fastifyHandler);
      app.get("/b", READ43, fastifyHandler);
      return app;
    },
  },
};

describe("Fastify: config.agentwrit whatever the order of registration", () => {
  it("is never served without the check, on a real server", async () => {
    const tally = report.get("registration order: Fastify");
    const misses: (string | undefined)[] = [];
    for (const [order, { prefix, build }] of Object.entries(ORDERS)) {
      const server = await serveOn({ name: "fastify", app: await build() });
      try {
        misses.push(
          judge(tally, `${order}: no token`, await send(server, `${prefix}/a`, undefined), { status: 401, code: "missing_token" }),
          judge(tally, `${order}: HEAD, no token`, await send(server, `${prefix}/a`, undefined, "HEAD"), { status: 401 }),
          judge(tally, `${order}: a forged token`, await send(server, `${prefix}/a`, `Bearer ${token.slice(0, -4)}AAAA`), { status: 401 }),
          judge(tally, `${order}: scope not held`, await send(server, `${prefix}/b`, bearer()), { status: 403, code: "insufficient_scope" }),
          judge(tally, `${order}: scope held`, await send(server, `${prefix}/a`, bearer()), { status: 200, agent: true }),
        );
      } finally {
        await server.close();
      }
    }
    tally.figure("orders", Object.keys(ORDERS).length);
    expect(misses.filter((m) => m !== undefined)).toEqual([]);
  });
});

describe("Fastify: config.agentwrit outside the plugin's reach", () => {
  it("a route in a context no registration encloses, or rewritten by a later onRoute hook: ready() names it or the request is refused, never served", async () => {
    const tally = report.get("registration order: Fastify, outside the plugin's context");
    const misses: (string | undefined)[] = [];
    // A handler that answers 200 whatever happened: only the check can refuse.
    const leak = async () => ({ leaked: true });
    const builds: Record<string, () => Promise<FastifyInstance>> = {
      "plugin in a child, route in the root after it": async () => {
        const app = Fastify();
        await app.register(async (api) => {
          await api.register(agentwrit, { guard });
        });
        app.get("/a", READ42, leak);
        return app;
      },
      "plugin in a child, route in a sibling after it": async () => {
        const app = Fastify();
        await app.register(async (api) => {
          await api.register(agentwrit, { guard });
        });
        await app.register(async (other) => void other.get("/a", READ42, leak));
        return app;
      },
      "plugin in a child, route in the root before it": async () => {
        const app = Fastify();
        app.get("/a", READ42, leak);
        await app.register(async (api) => {
          await api.register(agentwrit, { guard });
        }, { prefix: "/api" });
        return app;
      },
      "a later onRoute hook sets config.agentwrit": async () => {
        const app = Fastify();
        await app.register(agentwrit, { guard });
        app.addHook("onRoute", (route) => void (route.config = { ...route.config, agentwrit: { scope: "read:data:customer-42" } }));
        app.get("/a", leak);
        return app;
      },
      "a later onRoute hook drops the plugin's hook": async () => {
        const app = Fastify();
        await app.register(agentwrit, { guard });
        app.addHook("onRoute", (route) => void (route.onRequest = [async () => undefined]));
        app.get("/a", READ42, leak);
        return app;
      },
    };
    for (const [name, build] of Object.entries(builds)) {
      const app = await build();
      let server: Listening | undefined;
      try {
        server = await serveOn({ name: "fastify", app });
      } catch (e) {
        const named = e instanceof TypeError && /GET \/a: /.test(e.message);
        if (!tally.check(`${name}: ready() fails naming the route`, named)) misses.push(`${name}: ${String(e)}`);
        await app.close();
        continue;
      }
      try {
        const none = await send(server, "/a", undefined);
        const valid = await send(server, "/a", bearer());
        const refused = none.status !== 200 && valid.status !== 200;
        if (!tally.check(`${name}: refused on every request (${String(none.status)}, ${String(valid.status)})`, refused)) misses.push(`${name}: served`);
      } finally {
        await server.close();
      }
    }
    tally.figure("layouts", Object.keys(builds).length);
    expect(misses).toEqual([]);
  });
});

describe("route configuration mistakes", () => {
  it("Fastify: TypeErrors naming the route at registration (or ready()); a route declared before the plugin: 500 on a real server", async () => {
    const tally = report.get("wiring: route configuration");
    const misses: (string | undefined)[] = [];
    const throws = (name: string, fn: () => unknown, message: RegExp): void => {
      let thrown: unknown;
      try {
        fn();
      } catch (e) {
        thrown = e;
      }
      const ok = thrown instanceof TypeError && message.test(thrown.message);
      if (!tally.check(name, ok)) misses.push(`${name}: ${String(thrown)}`);
    };
    const app = Fastify();
    app.get("/early", { config: { agentwrit: { scopes: "read:data:customer-42" } as never } }, fastifyHandler);
    await app.register(agentwrit, { guard });
    throws("fastify: config.agentwrit.scopes (typo)", () => app.get("/typo", { config: { agentwrit: { scopes: "read:data:customer-42" } as never } }, fastifyHandler), /GET \/typo: unknown key "scopes"/);
    throws("fastify: config.agentwrit.scope undefined", () => app.get("/undef", { config: { agentwrit: { scope: undefined } as never } }, fastifyHandler), /GET \/undef: .*undefined/);
    throws("fastify: config.agentwrit.scope empty list", () => app.get("/empty", { config: { agentwrit: { scope: [] } } }, fastifyHandler), /GET \/empty: /);
    throws("fastify: config placeholder not a route param", () => app.get("/c/:customerId", { config: { agentwrit: { scope: "read:data:customer-{id}" } } }, fastifyHandler), /GET \/c\/:customerId: .*\{id\}/);
    throws("fastify: hook placeholder not a route param", () => app.get("/h/:customerId", { onRequest: app.agentwritGuard("read:data:customer-{id}") }, fastifyHandler), /GET \/h\/:customerId: .*\{id\}/);
    app.get("/opt/:id?", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, fastifyHandler);
    app.get("/ok", READ42, fastifyHandler);
    const nested = Fastify();
    await nested.register(agentwrit, { guard });
    void nested.register(async (child) => {
      child.post("/orders", { config: { agentwrit: { scopes: "write:data:x" } as never } }, fastifyHandler);
    }, { prefix: "/v1" });
    const ready = await nested.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!tally.check("fastify: typo in an encapsulated plugin fails ready()", ready instanceof TypeError && /POST \/v1\/orders/.test(ready.message))) misses.push(`ready: ${String(ready)}`);

    const server = await serveOn({ name: "fastify", app });
    try {
      misses.push(
        judge(tally, "fastify: typo on a route declared before the plugin", await send(server, "/early", bearer()), { status: 500, code: "guard_not_mounted", challenge: false }),
        judge(tally, "fastify: the same, without a token", await send(server, "/early", undefined), { status: 500, code: "guard_not_mounted", challenge: false }),
        judge(tally, "fastify: optional param left out", await send(server, "/opt", bearer()), { status: 400, code: "invalid_parameter" }),
        judge(tally, "fastify: optional param %2A", await send(server, "/opt/%2A", bearer()), { status: 400, code: "invalid_parameter" }),
        judge(tally, "fastify: still serving", await send(server, "/ok", bearer()), { status: 200, agent: true }),
      );
    } finally {
      await server.close();
    }
    expect(misses.filter((m) => m !== undefined)).toEqual([]);
  });

  it("Express and Hono: an undeclared placeholder is 500 requirement_param_missing on a real server; optional params stay 400", async () => {
    const tally = report.get("wiring: route configuration");
    const misses: (string | undefined)[] = [];
    const expressApp = express();
    const json = (req: express.Request, res: express.Response): void => void res.json({ agent: req.agentwrit?.agentId });
    expressApp.get("/c/:customerId", expressGuard("read:data:customer-{id}", guard), json);
    expressApp.get("/opt{/:id}", expressGuard("write:data:order-{id}", guard), json);
    expressApp.get("/ok", expressGuard("read:data:customer-42", guard), json);
    const honoApp = new Hono();
    honoApp.get("/c/:customerId", honoGuard("read:data:customer-{id}", guard), (c) => c.json({ agent: c.var.agentwrit.agentId }));
    honoApp.get("/opt/:id?", honoGuard("write:data:order-{id}", guard), (c) => c.json({ agent: c.var.agentwrit.agentId }));
    honoApp.get("/ok", honoGuard("read:data:customer-42", guard), (c) => c.json({ agent: c.var.agentwrit.agentId }));
    for (const which of [{ name: "express", app: expressApp }, { name: "hono", app: honoApp }] satisfies AnyApp[]) {
      const server = await serveOn(which);
      const n = which.name;
      try {
        misses.push(
          judge(tally, `${n}: placeholder not a route param`, await send(server, "/c/42", bearer()), { status: 500, code: "requirement_param_missing", challenge: false }),
          judge(tally, `${n}: the same, again`, await send(server, "/c/43", bearer()), { status: 500, code: "requirement_param_missing", challenge: false }),
          judge(tally, `${n}: optional param left out`, await send(server, "/opt", bearer()), { status: 400, code: "invalid_parameter" }),
          judge(tally, `${n}: optional param %2A`, await send(server, "/opt/%2A", bearer()), { status: 400, code: "invalid_parameter" }),
          judge(tally, `${n}: still serving`, await send(server, "/ok", bearer()), { status: 200, agent: true }),
        );
      } finally {
        await server.close();
      }
    }
    expect(misses.filter((m) => m !== undefined)).toEqual([]);
  });
});

describe("requireScope with no guard before it", () => {
  it("every adapter: 500 guard_not_mounted, no challenge, whatever the client sent; the server keeps serving", async () => {
    const tally = report.get("wiring: guard not mounted");
    const misses: (string | undefined)[] = [];
    const expressApp = express();
    expressApp.get("/unguarded", expressRequireScope("read:data:customer-42"), (_req, res) => void res.json({ leaked: true }));
    expressApp.get("/ok", expressGuard("read:data:customer-42", guard), (req, res) => void res.json({ agent: req.agentwrit?.agentId }));
    const fastifyApp = Fastify();
    await fastifyApp.register(agentwrit, { guard });
    fastifyApp.get("/unguarded", { onRequest: fastifyApp.requireScope("read:data:customer-42") }, async () => ({ leaked: true }));
    fastifyApp.get("/ok", READ42, async (request: FastifyRequest) => ({ agent: request.agentwrit?.agentId }));
    const honoApp = new Hono();
    honoApp.get("/unguarded", honoRequireScope("read:data:customer-42"), (c) => c.json({ leaked: true }));
    honoApp.get("/ok", honoGuard("read:data:customer-42", guard), (c) => c.json({ agent: c.var.agentwrit.agentId }));
    const apps: AnyApp[] = [
      { name: "express", app: expressApp },
      { name: "fastify", app: fastifyApp },
      { name: "hono", app: honoApp },
    ];
    for (const which of apps) {
      const server = await serveOn(which);
      const n = which.name;
      const notMounted = { status: 500, code: "guard_not_mounted", challenge: false } as const;
      try {
        misses.push(
          judge(tally, `${n}: a valid token`, await send(server, "/unguarded", bearer()), notMounted),
          judge(tally, `${n}: no token`, await send(server, "/unguarded", undefined), notMounted),
          judge(tally, `${n}: a garbage token`, await send(server, "/unguarded", "Bearer x.y.z"), notMounted),
          judge(tally, `${n}: still serving`, await send(server, "/ok", bearer()), { status: 200, agent: true }),
        );
      } finally {
        await server.close();
      }
    }
    expect(misses.filter((m) => m !== undefined)).toEqual([]);
  });
});

describe("zero-config guards", () => {
  it("an app-wide and a route guard, both zero-config, make one broker call per request on every adapter", async () => {
    const tally = report.get("wiring: zero-config guard sharing");
    vi.stubEnv("AGENTWRIT_BROKER_URL", broker.url);
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", "");
    vi.stubEnv("AGENTWRIT_AUDIENCE", AUDIENCE);
    vi.stubEnv("AGENTWRIT_ISSUER", "");
    vi.stubEnv("AGENTWRIT_LOG", "");
    try {
      const expressApp = express();
      expressApp.use(expressGuard());
      expressApp.get("/orders/:id", expressGuard("write:data:order-{id}"), (req, res) => void res.json({ agent: req.agentwrit?.agentId }));
      const fastifyApp = Fastify();
      await fastifyApp.register(agentwrit);
      fastifyApp.addHook("onRequest", fastifyApp.agentwritGuard());
      fastifyApp.get("/orders/:id", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, fastifyHandler);
      const honoApp = new Hono();
      honoApp.use("*", honoGuard());
      honoApp.get("/orders/:id", honoGuard("write:data:order-{id}"), (c) => c.json({ agent: c.var.agentwrit.agentId }));
      const misses: (string | undefined)[] = [];
      const perRequest: string[] = [];
      for (const which of [
        { name: "express", app: expressApp },
        { name: "fastify", app: fastifyApp },
        { name: "hono", app: honoApp },
      ] satisfies AnyApp[]) {
        const server = await serveOn(which);
        try {
          broker.resetStats();
          for (let i = 0; i < 4; i++) {
            misses.push(
              judge(tally, `${which.name}: allowed`, await send(server, "/orders/7", bearer()), { status: 200, agent: true }),
              judge(tally, `${which.name}: refused`, await send(server, "/orders/8", bearer()), { status: 403, code: "insufficient_scope" }),
            );
          }
          const calls = broker.stats.validateCalls / 8;
          perRequest.push(`${which.name} ${String(calls)}`);
          if (!tally.check(`${which.name}: one broker call per request`, calls === 1)) misses.push(`${which.name}: ${String(calls)} broker calls per request`);
        } finally {
          await server.close();
        }
      }
      tally.figure("broker calls per request", perRequest.join(", "));
      expect(misses.filter((m) => m !== undefined)).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
