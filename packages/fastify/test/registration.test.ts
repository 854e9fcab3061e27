/**
 * A route declaring `config.agentwrit` is never served without the check, whatever the order of
 * registration; route configuration and placeholder mistakes are TypeErrors naming the route;
 * wiring mistakes at run time are 500s logged once; the plugin logs through `request.log`.
 */
import Fastify, { type FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwrit, createGuard, type AgentWritRequest, type GuardLogger } from "../src/index.js";

const key = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string) => ({ authorization: bearer(t) });
const READ42 = { config: { agentwrit: { scope: "read:data:customer-42" } } };
const READ43 = { config: { agentwrit: { scope: "read:data:customer-43" } } };
const handler = async (request: AgentWritRequest) => ({ agent: request.agentwrit.agentId });

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** The three answers every guarded route must give: 401 without a token, 403 without the scope, 200 with it. */
async function expectGuarded(app: FastifyInstance, allowed: string, denied: string): Promise<void> {
  const none = await app.inject({ url: allowed });
  expect([allowed, none.statusCode, none.json().code]).toEqual([allowed, 401, "missing_token"]);
  const res = await app.inject({ url: denied, headers: auth(token) });
  expect([denied, res.statusCode, res.json().code]).toEqual([denied, 403, "insufficient_scope"]);
  const ok = await app.inject({ url: allowed, headers: auth(token) });
  expect([allowed, ok.statusCode]).toEqual([allowed, 200]);
  expect(ok.json()).toEqual({ agent: claims().sub });
}

describe("order of registration", () => {
  const orders: Record<string, () => Promise<FastifyInstance>> = {
    "routes before the plugin (register awaited after them)": async () => {
      const app = Fastify();
      app.get("/a", READ42, handler);
      app.get("/b", READ43, handler);
      await app.register(agentwrit, { guard });
      return app;
    },
    "register not awaited, routes declared right after": async () => {
      const app = Fastify();
      void app.register(agentwrit, { guard });
      app.get("/a", READ42, handler);
      app.get("/b", READ43, handler);
      return app;
    },
    "routes in an encapsulated plugin registered earlier": async () => {
      const app = Fastify();
      await app.register(async (child) => {
        child.get("/a", READ42, handler);
        child.get("/b", READ43, handler);
      });
      await app.register(agentwrit, { guard });
      return app;
    },
    "routes in a nested plugin with a prefix, registered earlier, nothing awaited": async () => {
      const app = Fastify();
      void app.register(
        async (api) => {
          void api.register(async (inner) => {
            inner.get("/a", READ42, handler);
            inner.get("/b", READ43, handler);
          });
        },
        { prefix: "/api" },
      );
      void app.register(agentwrit, { guard });
      return app;
    },
    "the plugin in an encapsulated plugin, after that plugin's routes": async () => {
      const app = Fastify();
      await app.register(async (child) => {
        child.get("/a", READ42, handler);
        child.get("/b", READ43, handler);
        await child.register(agentwrit, { guard });
      });
      return app;
    },
    "the usual order (plugin first)": async () => {
      const app = Fastify();
      await app.register(agentwrit, { guard });
      app.get("/a", READ42, handler);
      app.get("/b", READ43, handler);
      return app;
    },
  };

  it.each(Object.keys(orders))("%s: never served without the check", async (name) => {
    const app = await orders[name]!();
    await app.ready();
    const prefix = name.includes("prefix") ? "/api" : "";
    await expectGuarded(app, `${prefix}/a`, `${prefix}/b`);
    // HEAD is served by the same route: it is checked too.
    expect((await app.inject({ method: "HEAD", url: `${prefix}/a` })).statusCode).toBe(401);
    await app.close();
  });

  it("a route declared before the plugin with a bad config.agentwrit: 500 on every request, logged once naming the route", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = Fastify();
    app.get("/typo", { config: { agentwrit: { scopes: "read:data:customer-42" } as never } }, handler);
    await app.register(agentwrit, { guard });
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ url: "/typo", headers: auth(token) });
      expect(res.statusCode).toBe(500);
      expect(res.json().code).toBe("guard_not_mounted");
      expect(res.body).not.toContain("scopes");
    }
    expect(errors).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(errors.mock.calls[0])).toContain('GET /typo: unknown key \\"scopes\\"');
    await app.close();
  });
});

describe("route configuration mistakes are TypeErrors naming the route, at registration", () => {
  async function registered(): Promise<FastifyInstance> {
    const app = Fastify();
    await app.register(agentwrit, { guard });
    return app;
  }

  it("unknown keys, a non-object, an explicit undefined scope, a malformed or empty requirement", async () => {
    const app = await registered();
    const cases: [string, unknown, RegExp][] = [
      ["/typo", { scopes: "read:data:x" }, /GET \/typo: unknown key "scopes" in config\.agentwrit \(did you mean "scope"\?\)/],
      ["/extra", { scope: "read:data:x", audience: "x" }, /GET \/extra: unknown key "audience"/],
      ["/flag", true, /GET \/flag: config\.agentwrit must be an object/],
      ["/undef", { scope: undefined }, /GET \/undef: config\.agentwrit\.scope is undefined/],
      ["/bad", { scope: "not a scope" }, /GET \/bad: config\.agentwrit\.scope: /],
      ["/empty", { scope: [] }, /GET \/empty: config\.agentwrit\.scope: /],
    ];
    for (const [url, declared, message] of cases) {
      expect(() => app.get(url, { config: { agentwrit: declared as never } }, handler)).toThrow(message);
    }
    await app.close();
  });

  it("inside an encapsulated plugin, ready() fails with the route's name", async () => {
    const app = Fastify();
    await app.register(agentwrit, { guard });
    void app.register(async (child) => {
      child.post("/orders", { config: { agentwrit: { scopes: "write:data:x" } as never } }, handler);
    }, { prefix: "/v1" });
    await expect(app.ready()).rejects.toThrow(/POST \/v1\/orders: unknown key "scopes"/);
  });

  it("a placeholder the route does not declare, in config or in a hook: TypeError naming the route and the placeholder", async () => {
    const app = await registered();
    expect(() => app.get("/customers/:customerId", { config: { agentwrit: { scope: "read:data:customer-{id}" } } }, handler)).toThrow(
      /GET \/customers\/:customerId: the requirement's \{id\} is not a parameter of the route/,
    );
    expect(() => app.get("/c/:customerId", { onRequest: app.agentwritGuard("read:data:customer-{id}") }, handler)).toThrow(/GET \/c\/:customerId: .*\{id\}/);
    expect(() => app.put("/o/:orderId", { onRequest: [app.agentwritGuard()], preHandler: [app.requireScope("write:data:order-{id}", "read:data:{x}")] }, handler)).toThrow(
      /PUT \/o\/:orderId: the requirement's \{id\}, \{x\} are not parameters/,
    );
    // Declared parameters (also optional ones and multi-parameter segments) are fine.
    app.get("/ok/:id/:from-:to", { config: { agentwrit: { scope: "read:data:customer-{id}-{from}-{to}" } } }, handler);
    app.get("/opt/:id?", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, handler);
    await app.ready();
    const absent = await app.inject({ url: "/opt", headers: auth(token) });
    expect([absent.statusCode, absent.json().code]).toEqual([400, "invalid_parameter"]);
    const empty = await app.inject({ url: "/opt/", headers: auth(token) });
    expect([empty.statusCode, empty.json().code]).toEqual([400, "invalid_parameter"]);
    expect((await app.inject({ url: "/opt/7", headers: auth(token) })).statusCode).toBe(200);
    await app.close();
  });

  it("a templated hook added with addHook (route unknown): undeclared placeholder 500 requirement_param_missing, logged once", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = Fastify();
    await app.register(agentwrit, { guard });
    await app.register(async (scope) => {
      scope.addHook("onRequest", scope.agentwritGuard("read:data:customer-{id}"));
      scope.get("/customers/:customerId", handler);
      scope.get("/customers2/:id?", handler);
    });
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ url: "/customers/42", headers: auth(token) });
      expect([res.statusCode, res.json().code]).toEqual([500, "requirement_param_missing"]);
      expect(res.body).not.toContain("{id}");
    }
    expect(errors).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(errors.mock.calls[0])).toContain("GET /customers/:customerId");
    expect(JSON.stringify(errors.mock.calls[0])).toContain("{id}");
    expect((await app.inject({ url: "/customers2/42", headers: auth(token) })).statusCode).toBe(200);
    const absent = await app.inject({ url: "/customers2", headers: auth(token) });
    expect([absent.statusCode, absent.json().code]).toEqual([400, "invalid_parameter"]);
    await app.close();
  });
});

describe("logging", () => {
  function capture(level = "debug"): { lines: Record<string, unknown>[]; app: FastifyInstance } {
    const lines: Record<string, unknown>[] = [];
    const app = Fastify({ logger: { level, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } } });
    return { lines, app };
  }

  it("the guard logs through the app's logger: the description once at info, decisions on request.log, never the token", async () => {
    const { lines, app } = capture();
    await app.register(agentwrit, { publicKey: key.publicKeyPem });
    app.get("/orders/:id", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, handler);
    await app.ready();
    expect((await app.inject({ url: "/orders/7", headers: auth(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: "/orders/8", headers: auth(token) })).statusCode).toBe(403);
    expect((await app.inject({ url: "/orders/7", headers: auth(mint(makeKey(), claims(), { kid: key.kid })) })).statusCode).toBe(401);
    expect(lines.filter((l) => l.msg === "agentwrit: guard configured")).toHaveLength(1);
    const decisions = lines.filter((l) => typeof l.msg === "string" && /^agentwrit: (allowed|refused)/.test(l.msg));
    expect(decisions.map((l) => [l.outcome, l.phase, l.code, l.route])).toEqual([
      ["allow", "authorize", undefined, "GET /orders/:id"],
      ["deny", "authorize", "insufficient_scope", "GET /orders/:id"],
      ["deny", "authenticate", "invalid_signature", "GET /orders/:id"],
    ]);
    // Each decision is on the request's child logger (it carries the request id).
    for (const l of decisions) expect(typeof l.reqId).toBe("string");
    const all = JSON.stringify(lines);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split(".")[2]!);
    await app.close();
  });

  it("a shared guard without a logger is described once on the app's logger; its own logger is kept", async () => {
    const { lines, app } = capture("info");
    await app.register(agentwrit, { guard: createGuard({ publicKey: key.publicKeyPem }) });
    await app.ready();
    expect(lines.filter((l) => l.msg === "agentwrit: guard configured")).toHaveLength(1);
    await app.close();

    const own: string[] = [];
    const logger: GuardLogger = { debug: (_o, m) => own.push(`debug ${m ?? ""}`), info: (_o, m) => own.push(`info ${m ?? ""}`), warn: () => undefined, error: () => undefined };
    const second = capture("info");
    await second.app.register(agentwrit, { guard: createGuard({ publicKey: key.publicKeyPem, logger }) });
    second.app.get("/", READ42, handler);
    await second.app.ready();
    expect((await second.app.inject({ url: "/", headers: auth(token) })).statusCode).toBe(200);
    expect(second.lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("agentwrit"))).toEqual([]);
    expect(own).toEqual(["info agentwrit: guard configured", "debug agentwrit: allowed"]);
    await second.app.close();
  });

  it("zero-config with AGENTWRIT_LOG logs to the console; with the app's logger, through it", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    vi.stubEnv("AGENTWRIT_AUDIENCE", "fastify-zero-config");
    vi.stubEnv("AGENTWRIT_LOG", "debug");
    const audToken = mint(key, claims({ aud: ["fastify-zero-config"] }));
    const debug = vi.spyOn(console, "debug").mockImplementation(() => undefined);
    vi.spyOn(console, "info").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const app = Fastify();
    await app.register(agentwrit);
    app.get("/", READ42, handler);
    expect((await app.inject({ url: "/", headers: auth(audToken) })).statusCode).toBe(200);
    expect(debug.mock.calls.map((c) => c[0])).toContain("agentwrit: agentwrit: allowed");
    await app.close();

    vi.stubEnv("AGENTWRIT_LOG", "");
    const { lines, app: logged } = capture();
    await logged.register(agentwrit);
    logged.get("/", READ42, handler);
    expect((await logged.inject({ url: "/", headers: auth(audToken) })).statusCode).toBe(200);
    expect(lines.filter((l) => l.msg === "agentwrit: allowed")).toHaveLength(1);
    await logged.close();
    // The guard is the environment's shared one (one cache for every zero-config adapter): another
    // app with a logger of its own finds the token verified, and logs the decision on its request.log.
    const { lines: second, app: again } = capture();
    await again.register(agentwrit);
    again.get("/", READ42, handler);
    expect((await again.inject({ url: "/", headers: auth(audToken) })).statusCode).toBe(200);
    expect(second.filter((l) => l.msg === "agentwrit: allowed").map((l) => [l.source, typeof l.reqId])).toEqual([["cache", "string"]]);
    expect(second.filter((l) => l.msg === "agentwrit: guard configured")).toHaveLength(1);
    await again.close();
  });

  it("a requireScope hook with no check before it: 500 guard_not_mounted, one error line on the app's logger", async () => {
    const { lines, app } = capture("error");
    await app.register(agentwrit, { guard });
    app.get("/reports", { onRequest: app.requireAnyScope("read:reports:*") }, handler);
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ url: "/reports", headers: auth(token) });
      expect([res.statusCode, res.json().code, res.headers["www-authenticate"]]).toEqual([500, "guard_not_mounted", undefined]);
    }
    const errors = lines.filter((l) => l.code === "guard_not_mounted");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ route: "GET /reports" });
    expect(String(errors[0]!.reason)).toContain("requireAnyScope()");
    await app.close();
  });
});

describe("decisions", () => {
  it("phase authorize for a scope failure inside verify (route config)", async () => {
    const events: { phase: string; outcome: string; route: string | undefined }[] = [];
    const app = Fastify();
    await app.register(agentwrit, { publicKey: key.publicKeyPem, onDecision: (e) => events.push(e) });
    app.get("/b", READ43, handler);
    expect((await app.inject({ url: "/b", headers: auth(token) })).statusCode).toBe(403);
    expect(events.map(({ phase, outcome, route }) => ({ phase, outcome, route }))).toEqual([{ phase: "authorize", outcome: "deny", route: "GET /b" }]);
    await app.close();
  });
});

describe("config.agentwrit outside the plugin's reach (red team)", () => {
  /** A route must never answer 200 without a token: either ready() names it, or the request is refused. */
  async function neverServed(app: FastifyInstance, url: string): Promise<{ ready: unknown; status: number | undefined }> {
    const ready = await app.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    const status = ready === undefined ? (await app.inject({ url })).statusCode : undefined;
    await app.close();
    return { ready, status };
  }

  it("the plugin in one encapsulated plugin, a route declaring config.agentwrit later in the root or a sibling: ready() fails naming it", async () => {
    const inRoot = Fastify();
    await inRoot.register(async (api) => {
      await api.register(agentwrit, { guard });
    });
    inRoot.get("/admin", READ42, handler);
    const root = await neverServed(inRoot, "/admin");
    expect(root.ready).toBeInstanceOf(TypeError);
    expect(String(root.ready)).toMatch(/GET \/admin: declares config\.agentwrit/);

    const inSibling = Fastify();
    await inSibling.register(async (api) => {
      await api.register(agentwrit, { guard });
    });
    await inSibling.register(async (other) => {
      other.get("/other", READ42, handler);
    }, { prefix: "/v2" });
    const sibling = await neverServed(inSibling, "/v2/other");
    expect(String(sibling.ready)).toMatch(/GET \/v2\/other: declares config\.agentwrit/);
  });

  it("the plugin in one encapsulated plugin, a route declaring config.agentwrit earlier elsewhere: 500 guard_not_mounted, never served", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = Fastify();
    app.get("/admin", READ42, handler);
    await app.register(async (api) => {
      await api.register(agentwrit, { guard });
      api.get("/mine", READ42, handler);
    }, { prefix: "/api" });
    await app.ready();
    for (const headers of [{}, auth(token)]) {
      const res = await app.inject({ url: "/admin", headers });
      expect([res.statusCode, res.json().code, res.headers["www-authenticate"]]).toEqual([500, "guard_not_mounted", undefined]);
      // The reason is for the operator's log only.
      expect(res.body).not.toContain("config.agentwrit");
    }
    expect(JSON.stringify(errors.mock.calls)).toContain("GET /admin");
    // The plugin's own context is served as usual.
    expect((await app.inject({ url: "/api/mine" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/api/mine", headers: auth(token) })).statusCode).toBe(200);
    await app.close();
  });

  it("an onRoute hook added after the plugin that sets config.agentwrit, or drops the plugin's hook: ready() fails naming the route", async () => {
    const adds = Fastify();
    await adds.register(agentwrit, { guard });
    adds.addHook("onRoute", (route) => {
      route.config = { ...route.config, agentwrit: { scope: "read:data:customer-42" } };
    });
    adds.get("/x", handler);
    expect(String((await neverServed(adds, "/x")).ready)).toMatch(/GET \/x: /);

    const drops = Fastify();
    await drops.register(agentwrit, { guard });
    drops.addHook("onRoute", (route) => {
      route.onRequest = [async () => undefined];
    });
    drops.get("/y", READ42, handler);
    expect(String((await neverServed(drops, "/y")).ready)).toMatch(/GET \/y: .*onRoute/);

    const plugin = Fastify();
    await plugin.register(agentwrit, { guard });
    await plugin.register(
      fp(async (instance) => {
        instance.addHook("onRoute", (route) => {
          delete route.onRequest;
        });
      }),
    );
    plugin.get("/z", { onRequest: plugin.agentwritGuard("read:data:customer-42") }, handler);
    expect(String((await neverServed(plugin, "/z")).ready)).toMatch(/GET \/z: .*onRoute/);
  });

  it("keeps working: a second registration inside the routes' own plugin, after them, while another context has its own", async () => {
    const app = Fastify();
    await app.register(async (a) => {
      await a.register(agentwrit, { guard });
    });
    await app.register(async (b) => {
      b.get("/a", READ42, handler);
      b.get("/b", READ43, handler);
      await b.register(agentwrit, { guard });
    });
    await app.ready();
    await expectGuarded(app, "/a", "/b");
    await app.close();
  });

  it("keeps working: one plugin per encapsulated context with its own guard, and onRoute hooks that keep the hooks they are given", async () => {
    const other = createGuard({ publicKey: makeKey().publicKeyPem, realm: "other" });
    const app = Fastify();
    await app.register(async (a) => {
      await a.register(agentwrit, { guard });
      a.addHook("onRoute", (route) => {
        const hooks: unknown = route.onRequest;
        route.onRequest = [...(hooks === undefined ? [] : Array.isArray(hooks) ? (hooks as never[]) : [hooks as never]), async () => undefined];
      });
      a.get("/a", READ42, handler);
      a.get("/b", READ43, handler);
    });
    await app.register(async (b) => {
      await b.register(agentwrit, { guard: other });
      b.get("/other", READ42, handler);
    });
    await app.ready();
    await expectGuarded(app, "/a", "/b");
    // The second context's guard trusts another key: the first key's token is refused there.
    expect((await app.inject({ url: "/other", headers: auth(token) })).statusCode).toBe(401);
    await app.close();
  });
});
