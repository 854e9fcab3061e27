/**
 * guarded(…, handler): agentwritGuard's check inside the route's one handler. Same answers as the
 * middleware (challenges, problem bodies, 503, onError), a cached token handled without a promise,
 * a request an earlier agentwritGuard verified not verified twice, wiring mistakes at construction.
 */
import { Hono, type Context, type Next } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterEach, describe, expect, it, vi } from "vitest";
import { closedPortUrl } from "../../../test/support/servers.js";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, checkRoutes, createGuard, guarded, isGuardError, type GuardLogger } from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string): RequestInit => ({ headers: { authorization: bearer(t) } });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("guarded(handler)", () => {
  const app = new Hono();
  app.get("/me", guarded(guard, (c) => c.json({ agent: c.var.agentwrit.agentId, scope: c.var.agentwrit.scope })));
  app.get("/orders/:id", guarded<"/orders/:id">("write:data:order-{id}", guard, (c) => c.json({ id: c.req.param("id"), agent: c.var.agentwrit.agentId })));
  app.post("/async", guarded("read:data:customer-42", guard, async (c) => c.text(`${c.var.agentwrit.agentId} ${await c.req.text()}`)));

  it("calls the handler with the verified agent", async () => {
    const res = await app.request("/me", auth(token));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: claims().sub, scope: ["read:data:customer-42", "write:data:order-7"] });
    const body = await app.request("/async", { method: "POST", body: "hello", ...auth(token) });
    expect(await body.text()).toBe(`${String(claims().sub)} hello`);
  });

  it("answers exactly as agentwritGuard does: 401 challenge, 403 with the scope, 400 for an unsafe parameter", async () => {
    const mw = new Hono();
    mw.get("/me", agentwritGuard(guard), (c) => c.text("ok"));
    mw.get("/orders/:id", agentwritGuard("write:data:order-{id}", guard), (c) => c.text("ok"));
    const cases: [string, RequestInit][] = [
      ["/me", {}],
      ["/me", auth("not-a-token")],
      ["/me", auth(mint(other, claims(), { kid: key.kid }))],
      ["/orders/8", auth(token)],
      ["/orders/%2A", auth(token)],
    ];
    for (const [path, init] of cases) {
      const ours = await app.request(path, init);
      const theirs = await mw.request(path, init);
      expect(ours.status, path).toBe(theirs.status);
      expect(ours.headers.get("www-authenticate")).toBe(theirs.headers.get("www-authenticate"));
      expect(ours.headers.get("content-type")).toBe("application/problem+json");
      expect(await ours.text()).toBe(await theirs.text());
    }
    expect((await app.request("/orders/7", auth(token))).status).toBe(200);
    const denied = await app.request("/orders/8", auth(token));
    expect(denied.status).toBe(403);
    expect(denied.headers.get("www-authenticate")).toContain('scope="write:data:order-8"');
  });

  it("never runs the handler for a refused request", async () => {
    const handler = vi.fn((c: Context) => c.text("ok"));
    const route = new Hono().get("/", guarded("admin:all:x", guard, handler));
    expect((await route.request("/")).status).toBe(401);
    expect((await route.request("/", auth(token))).status).toBe(403);
    expect(handler).not.toHaveBeenCalled();
  });

  it("handles a cached token without a promise, a new one after verifying it", async () => {
    const fresh = createGuard({ publicKey: key.publicKeyPem });
    const wrapped = guarded(fresh, (c) => c.text(c.var.agentwrit.agentId));
    const returned: boolean[] = [];
    const route = new Hono().get("/", (c: Context, next: Next) => {
      const r: unknown = wrapped(c, next);
      returned.push(r instanceof Promise);
      return r as Response | Promise<Response>;
    });
    const first = await route.request("/", auth(token));
    const second = await route.request("/", auth(token));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await second.text()).toBe(claims().sub);
    expect(returned).toEqual([true, false]);
    expect(fresh.stats().cacheSize).toBe(1);
  });

  it("behind agentwritGuard of the same guard, checks only the requirement", async () => {
    const chained = new Hono();
    chained.use("*", agentwritGuard(guard));
    chained.get("/orders/:id", guarded("write:data:order-{id}", guard, (c) => c.text(c.var.agentwrit.agentId)));
    const verifyCached = vi.spyOn(guard, "verifyCached");
    const authorize = vi.spyOn(guard, "authorize");
    expect((await chained.request("/orders/7", auth(token))).status).toBe(200);
    expect((await chained.request("/orders/9", auth(token))).status).toBe(403);
    expect(verifyCached).toHaveBeenCalledTimes(2); // once per request, by the middleware
    expect(authorize).toHaveBeenCalledTimes(2);
  });

  it("answers 503 with Retry-After when the broker is down", async () => {
    const down = new Hono().get("/", guarded({ brokerUrl: await closedPortUrl(), brokerTimeoutMs: 500 }, (c) => c.text("ok")));
    const res = await down.request("/", auth(token));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("www-authenticate")).toBeNull();
  });

  it("throws HTTPException (challenge as res, GuardError as cause) to onError, sync and async alike", async () => {
    const custom = new Hono();
    custom.get("/", guarded("admin:all:x", createGuard({ publicKey: key.publicKeyPem }), (c) => c.text("ok")));
    const seen: string[] = [];
    custom.onError((err, c) => {
      if (err instanceof HTTPException && isGuardError(err.cause)) {
        seen.push(err.cause.code);
        return c.json({ custom: err.cause.code }, err.status);
      }
      return c.text("other", 500);
    });
    expect((await custom.request("/", auth(token))).status).toBe(403); // cold: the promise rejects
    expect((await custom.request("/", auth(token))).status).toBe(403); // cached: thrown synchronously
    expect((await custom.request("/")).status).toBe(401);
    expect(seen).toEqual(["insufficient_scope", "insufficient_scope", "missing_token"]);
  });

  it("lets the handler's own errors reach onError untouched", async () => {
    const boom = new Hono();
    boom.get("/", guarded(guard, () => {
      throw new Error("handler failed");
    }));
    boom.onError((err, c) => c.text(err.message, 500));
    const res = await boom.request("/", auth(token));
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("handler failed");
  });

  it("refuses wiring mistakes at construction, and checkRoutes finds a placeholder the route lacks", () => {
    expect(() => guarded(guard as never)).toThrow(/last argument must be the route's handler/);
    expect(() => (guarded as (...a: unknown[]) => unknown)("read:data:x", guard, undefined, () => undefined)).toThrow(TypeError);
    expect(() => guarded("not a scope", guard, (c) => c.text("ok"))).toThrow(TypeError);
    const app2 = new Hono();
    app2.get("/customers/:customerId", guarded("read:data:customer-{id}", guard, (c) => c.text("ok")));
    expect(() => checkRoutes(app2)).toThrow(/GET \/customers\/:customerId: \{id\}/);
    const app3 = new Hono();
    app3.get("/customers/:id", guarded("read:data:customer-{id}", guard, (c) => c.text("ok")));
    expect(checkRoutes(app3)).toBe(1);
  });

  it("logs no token text", async () => {
    const lines: string[] = [];
    const logger: GuardLogger = {
      debug: (...a: unknown[]) => lines.push(JSON.stringify(a)),
      info: (...a: unknown[]) => lines.push(JSON.stringify(a)),
      warn: (...a: unknown[]) => lines.push(JSON.stringify(a)),
      error: (...a: unknown[]) => lines.push(JSON.stringify(a)),
    };
    const logged = new Hono().get("/:id", guarded("admin:all:{id}", { publicKey: key.publicKeyPem, logger }, (c) => c.text("ok")));
    const forged = mint(other, claims(), { kid: key.kid });
    await logged.request("/x", auth(forged));
    await logged.request("/x", auth(token));
    expect(lines.length).toBeGreaterThan(0);
    for (const t of [token, forged]) for (const part of t.split(".")) expect(lines.join("\n")).not.toContain(part);
  });
});
