/**
 * Red team of guarded(…, handler) on Hono: hostile clients (no token, forged tokens, other scopes,
 * several Authorization headers, HEAD, concurrent cold requests) and wiring mistakes (options as a
 * function that throws or returns nothing, a middleware passed where options go, app.use). Each
 * test expects the secure behaviour.
 */
import { Hono, type Context, type MiddlewareHandler, type Next } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { closedPortUrl } from "../../../test/support/servers.js";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, checkRoutes, createGuard, guarded, requireScope, type GuardLogger } from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const forged = mint(other, claims(), { kid: key.kid });
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string): RequestInit => ({ headers: { authorization: bearer(t) } });
const call = guarded as (...a: unknown[]) => (c: Context, next: Next) => unknown;

afterEach(() => {
  vi.restoreAllMocks();
});

async function snapshot(res: Response): Promise<string> {
  const headers = [...res.headers.entries()].filter(([k]) => k !== "date");
  return JSON.stringify([res.status, headers, await res.text()]);
}

describe("red team: guarded on Hono", () => {
  it("concurrent cold requests for one token: each is checked against its own route's requirement", async () => {
    const fresh = createGuard({ publicKey: key.publicKeyPem });
    const reached = vi.fn();
    const app = new Hono().get(
      "/orders/:id",
      guarded<"/orders/:id">("write:data:order-{id}", fresh, (c) => {
        reached(c.req.param("id"));
        return c.text("ok");
      }),
    );
    const sends: [string, RequestInit, number][] = [
      ...Array.from({ length: 8 }, (): [string, RequestInit, number] => ["/orders/7", auth(token), 200]),
      ...Array.from({ length: 8 }, (): [string, RequestInit, number] => ["/orders/8", auth(token), 403]),
      ...Array.from({ length: 4 }, (): [string, RequestInit, number] => ["/orders/7", auth(forged), 401]),
      ...Array.from({ length: 4 }, (): [string, RequestInit, number] => ["/orders/7", {}, 401]),
    ];
    const statuses = await Promise.all(sends.map(async ([p, init]) => (await app.request(p, init)).status));
    expect(statuses).toEqual(sends.map((s) => s[2]));
    expect(reached).toHaveBeenCalledTimes(8);
    for (const c of reached.mock.calls) expect(c).toEqual(["7"]);
  });

  it("answers byte for byte as agentwritGuard (GET and HEAD, cold and cached, with and without a middleware before it)", async () => {
    const gG = createGuard({ publicKey: key.publicKeyPem, realm: "api", audience: "orders" });
    const gM = createGuard({ publicKey: key.publicKeyPem, realm: "api", audience: "orders" });
    const build = (before: boolean, route: (app: Hono) => void): Hono => {
      const app = new Hono();
      if (before) {
        app.use("*", async (c, next) => {
          c.header("x-before", "1");
          await next();
        });
      }
      route(app);
      return app;
    };
    const aud = mint(key, claims({ aud: "orders" }));
    const cases: [string, RequestInit][] = [
      ["/orders/7", {}],
      ["/orders/7", { headers: { authorization: "Basic Zm9vOmJhcg==" } }],
      ["/orders/7", { headers: { authorization: "Bearer" } }],
      ["/orders/7", { headers: { authorization: "bearer " + aud } }],
      ["/orders/7", auth(token)],
      ["/orders/7", auth(forged)],
      ["/orders/7", { headers: [["authorization", bearer(aud)], ["authorization", bearer(aud)]] }],
      ["/orders/8", auth(aud)],
      ["/orders/8", auth(aud)],
      ["/orders/%2A", auth(aud)],
      ["/orders/7", auth(aud)],
      ["/orders/7", auth(aud)],
    ];
    for (const before of [false, true]) {
      const ours = build(before, (a) => a.get("/orders/:id", guarded("write:data:order-{id}", gG, (c) => c.text("ok"))));
      const theirs = build(before, (a) => a.get("/orders/:id", agentwritGuard("write:data:order-{id}", gM), (c) => c.text("ok")));
      for (const method of ["GET", "HEAD"]) {
        for (const [path, init] of cases) {
          const o = await snapshot(await ours.request(path, { ...init, method }));
          const t = await snapshot(await theirs.request(path, { ...init, method }));
          expect(o, `${String(before)} ${method} ${path}`).toBe(t);
        }
      }
    }
  });

  it("503 from a down broker is byte-identical to agentwritGuard's", async () => {
    const url = await closedPortUrl();
    const ours = new Hono().get("/", guarded({ brokerUrl: url, brokerTimeoutMs: 300 }, (c) => c.text("ok")));
    const theirs = new Hono().get("/", agentwritGuard({ brokerUrl: url, brokerTimeoutMs: 300 }), (c) => c.text("ok"));
    const o = await snapshot(await ours.request("/", auth(token)));
    expect(o).toContain("503");
    expect(o).toBe(await snapshot(await theirs.request("/", auth(token))));
  });

  it("options as a function of the context: checked per request, never a pass; the guard shared with agentwritGuard of the same options", async () => {
    const reached = vi.fn();
    const options = (): { publicKey: string } => ({ publicKey: key.publicKeyPem });
    const app = new Hono();
    app.get("/a/:id", guarded("write:data:order-{id}", options, (c) => {
      reached();
      return c.text(c.var.agentwrit.agentId);
    }));
    app.get("/b", guarded(options, (c) => {
      reached();
      return c.text(c.var.agentwrit.agentId);
    }));
    expect((await app.request("/b")).status).toBe(401);
    expect((await app.request("/b", auth(forged))).status).toBe(401);
    expect((await app.request("/a/8", auth(token))).status).toBe(403);
    expect((await app.request("/a/8", auth(token))).status).toBe(403);
    expect(reached).not.toHaveBeenCalled();
    expect((await app.request("/a/7", auth(token))).status).toBe(200);
    expect((await app.request("/b", auth(token))).status).toBe(200);
  });

  it("options functions that throw, return nothing or return a promise answer 500 (logged), never 401 or the handler", async () => {
    const reached = vi.fn();
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const bad: [string, unknown][] = [
      ["throws", () => {
        throw new TypeError("no config for this tenant");
      }],
      ["undefined", () => undefined],
      ["promise", () => Promise.resolve({ publicKey: key.publicKeyPem })],
      ["garbage", () => ({ publicKey: "not a key" })],
    ];
    for (const [name, options] of bad) {
      const app = new Hono().get("/", call(options, (c: Context) => {
        reached();
        return c.text("handler");
      }) as MiddlewareHandler);
      for (const init of [{}, auth(token)]) {
        let status: number | string;
        try {
          status = (await app.request("/", init)).status;
        } catch (e) {
          status = `rejected: ${String(e)}`;
        }
        expect(status, name).toBe(500);
      }
    }
    expect(reached).not.toHaveBeenCalled();
    expect(errors).toHaveBeenCalled();
  });

  it("a middleware passed where the options go (JS, no types) is refused, never silently dropped", async () => {
    const requireAdmin: MiddlewareHandler = async (c, next) => {
      if (c.req.header("x-admin") !== "yes") return c.text("admins only", 403);
      await next();
      return undefined;
    };
    let outcome: string;
    try {
      const app = new Hono();
      app.get("/g", call(guard, requireAdmin, (c: Context) => c.text("admin data")) as MiddlewareHandler);
      app.get("/o", call({ publicKey: key.publicKeyPem }, requireAdmin, (c: Context) => c.text("admin data")) as MiddlewareHandler);
      const g = await app.request("/g", auth(token));
      const o = await app.request("/o", auth(token));
      outcome = `${String(g.status)} ${await g.text()} | ${String(o.status)} ${await o.text()}`;
    } catch (e) {
      outcome = e instanceof TypeError ? "TypeError at construction" : String(e);
    }
    expect(outcome).toBe("TypeError at construction");
  });

  it("guarded(requirement, middleware, handler): the middleware taken for an options function fails closed (500)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const requireAdmin: MiddlewareHandler = async (c, next) => {
      if (c.req.header("x-admin") !== "yes") return c.text("admins only", 403);
      await next();
      return undefined;
    };
    const reached = vi.fn();
    const app = new Hono().get("/", call("read:data:customer-42", requireAdmin, (c: Context) => {
      reached();
      return c.text("admin data");
    }) as MiddlewareHandler);
    for (const init of [auth(token), { headers: { authorization: bearer(token), "x-admin": "yes" } }]) {
      let status: number | string;
      try {
        status = (await app.request("/", init)).status;
      } catch (e) {
        status = `rejected: ${String(e)}`;
      }
      expect(status).toBe(500);
    }
    expect(reached).not.toHaveBeenCalled();
  });

  it("app.use(guarded(…)) as a middleware: refused requests never reach later handlers", async () => {
    const reached = vi.fn();
    const app = new Hono();
    app.use("*", guarded(guard, async (_c, next) => {
      await next();
    }));
    app.get("/data", (c) => {
      reached();
      return c.text("data");
    });
    expect((await app.request("/data")).status).toBe(401);
    expect((await app.request("/data", auth(forged))).status).toBe(401);
    expect((await app.request("/data", { method: "HEAD" })).status).toBe(401);
    expect(reached).not.toHaveBeenCalled();
    expect((await app.request("/data", auth(token))).status).toBe(200);
  });

  it("zero-config guard read from the environment: refuses without a valid token", async () => {
    const saved = process.env.AGENTWRIT_PUBLIC_KEY;
    process.env.AGENTWRIT_PUBLIC_KEY = key.publicKeyPem;
    const app = new Hono();
    try {
      app.get("/:id", guarded<"/:id">("write:data:order-{id}", (c) => c.text(c.var.agentwrit.agentId)));
    } finally {
      if (saved === undefined) delete process.env.AGENTWRIT_PUBLIC_KEY;
      else process.env.AGENTWRIT_PUBLIC_KEY = saved;
    }
    expect((await app.request("/7")).status).toBe(401);
    expect((await app.request("/7", auth(forged))).status).toBe(401);
    expect((await app.request("/8", auth(token))).status).toBe(403);
    expect((await app.request("/7", auth(token))).status).toBe(200);
  });

  it("checkRoutes finds guarded placeholders wherever it finds agentwritGuard's (basePath, route(), sub-apps with onError)", () => {
    const table = (wrap: (r: string) => MiddlewareHandler): Hono => {
      const app = new Hono();
      const sub = new Hono();
      sub.get("/x/:cid", wrap("read:data:customer-{cid}"));
      sub.get("/y", wrap("read:data:customer-{cid}"));
      const subErr = new Hono();
      subErr.onError((_e, c) => c.text("sub error", 500));
      subErr.get("/z", wrap("read:data:customer-{cid}"));
      app.route("/c/:cid", sub);
      app.route("/e", subErr);
      app.basePath("/b").get("/w", wrap("read:data:customer-{cid}"));
      app.on(["GET", "POST"], "/o/:other", wrap("read:data:customer-{cid}"));
      return app;
    };
    const ours = table((r) => guarded(r, guard, (c) => c.text("ok")) as MiddlewareHandler);
    const theirs = table((r) => agentwritGuard(r, guard) as MiddlewareHandler);
    const message = (app: Hono): string => {
      try {
        return `ok ${String(checkRoutes(app))}`;
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(message(ours)).toBe(message(theirs));
    expect(message(ours)).toContain("/b/w");
    expect(message(ours)).toContain("/o/:other");
  });

  it("checkRoutes reads a sub-app with its own onError (Hono wraps its handlers): the misplaced placeholder is found", () => {
    const app = new Hono();
    const sub = new Hono();
    sub.onError((_e, c) => c.text("sub error", 500));
    sub.get("/z", guarded("read:data:customer-{cid}", guard, (c) => c.text("ok")));
    app.route("/e", sub);
    expect(() => checkRoutes(app)).toThrow(/GET \/e\/z: \{cid\}/);
  });

  it("a sub-app checked with c.req.raw after the outer guard: the handler still gets c.var.agentwrit", async () => {
    const sub = new Hono();
    sub.get("/sub/orders/:id", guarded("write:data:order-{id}", guard, (c) => c.json({ agent: c.var.agentwrit.agentId })));
    const app = new Hono();
    app.use("*", agentwritGuard(guard));
    app.all("/sub/*", (c) => sub.fetch(c.req.raw));
    const res = await app.request("/sub/orders/7", auth(token));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: claims().sub });
    expect((await app.request("/sub/orders/8", auth(token))).status).toBe(403);
  });

  it("a sub-app's requireScope after the outer guard: the handler still gets c.var.agentwrit", async () => {
    const sub = new Hono();
    sub.get("/sub/orders/:id", requireScope("write:data:order-{id}"), (c) => c.json({ agent: c.var.agentwrit.agentId }));
    const app = new Hono();
    app.use("*", agentwritGuard(guard));
    app.all("/sub/*", (c) => sub.fetch(c.req.raw));
    const res = await app.request("/sub/orders/7", auth(token));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: claims().sub });
    expect((await app.request("/sub/orders/8", auth(token))).status).toBe(403);
  });

  it("leaks no token text into logs or problem bodies", async () => {
    const lines: string[] = [];
    const push = (...a: unknown[]): void => {
      lines.push(JSON.stringify(a));
    };
    const logger: GuardLogger = { debug: push, info: push, warn: push, error: push };
    const app = new Hono();
    app.get("/:id", guarded("admin:all:{id}", { publicKey: key.publicKeyPem, logger }, (c) => c.text("ok")));
    app.use("/m/*", guarded("admin:all:{missing}", { publicKey: key.publicKeyPem, logger }, async (_c, next) => {
      await next();
    }));
    app.get("/m/x", (c) => c.text("ok"));
    const expired = mint(key, claims({ exp: 1 }));
    const bodies: string[] = [];
    for (const t of [forged, token, expired]) {
      bodies.push(await (await app.request("/x", auth(t))).text());
      const wiring = await app.request("/m/x", auth(t));
      bodies.push(await wiring.text());
    }
    const all = [...lines, ...bodies].join("\n");
    expect(all).toContain("requirement_param_missing");
    for (const t of [forged, token, expired]) for (const part of t.split(".")) expect(all).not.toContain(part);
  });
});
