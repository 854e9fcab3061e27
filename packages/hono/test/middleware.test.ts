import { Hono, type Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterEach, describe, expect, it, vi } from "vitest";
import { closedPortUrl } from "../../../test/support/servers.js";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import {
  agentwritGuard,
  anyOf,
  createGuard,
  isGuardError,
  requireAnyScope,
  requireScope,
  type AgentWritEnv,
  type GuardOptions,
} from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string): RequestInit => ({ headers: { authorization: bearer(t) } });
const ok = (c: Context<AgentWritEnv>) => c.json({ agent: c.get("agentwrit").agentId, scope: c.var.agentwrit.scope });

// A plain app: each route's middleware types the agent for the handlers after it.
const app = new Hono();
app.get("/me", agentwritGuard(guard), ok);
app.get("/orders/:id", agentwritGuard("write:data:order-{id}", guard), ok);
app.get("/both", agentwritGuard(["read:data:customer-42", "write:data:x", "admin:all:x"], guard), ok);
app.get("/either", agentwritGuard(anyOf("admin:all:x", "read:data:customer-42"), guard), ok);
app.use("/chain/*", agentwritGuard(guard));
app.get("/chain/orders/:id", requireScope("write:data:order-{id}"), ok);
app.get("/chain/any", requireAnyScope("admin:all:x", "write:data:order-7"), ok);
app.get("/unguarded", requireScope("read:data:customer-42"), ok);

describe("hono middleware", () => {
  it("lets a valid agent through with c.get('agentwrit')", async () => {
    const res = await app.request("/me", auth(token));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: claims().sub, scope: ["read:data:customer-42", "write:data:order-7"] });
  });

  it("answers 401 with a bare challenge and problem+json when no token is sent", async () => {
    const res = await app.request("/me");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ code: "missing_token" });
  });

  it("answers 401 invalid_token for a forged signature; refuses joined duplicate headers", async () => {
    const res = await app.request("/me", auth(mint(other, claims(), { kid: key.kid })));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const headers = new Headers();
    headers.append("authorization", bearer(token));
    headers.append("authorization", bearer(token));
    const dup = await app.request("/me", { headers });
    expect(dup.status).toBe(401);
    expect(((await dup.json()) as { code: string }).code).toBe("malformed_authorization");
  });

  it("binds templates to route params; unsafe values are 400", async () => {
    expect((await app.request("/orders/7", auth(token))).status).toBe(200);
    const denied = await app.request("/orders/8", auth(token));
    expect(denied.status).toBe(403);
    expect(denied.headers.get("www-authenticate")).toContain('scope="write:data:order-8"');
    const bad = await app.request("/orders/%2A", auth(token));
    expect(bad.status).toBe(400);
  });

  it("names every missing scope in a 403, and accepts any-of", async () => {
    const res = await app.request("/both", auth(token));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain('scope="write:data:x admin:all:x"');
    expect((await app.request("/either", auth(token))).status).toBe(200);
  });

  it("requireScope / requireAnyScope check the agent verified earlier; 500 guard_not_mounted without one", async () => {
    expect((await app.request("/chain/orders/7", auth(token))).status).toBe(200);
    expect((await app.request("/chain/orders/9", auth(token))).status).toBe(403);
    expect((await app.request("/chain/any", auth(token))).status).toBe(200);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const res = await app.request("/unguarded", auth(token));
    errors.mockRestore();
    expect(res.status).toBe(500);
    expect(((await res.json()) as { code: string }).code).toBe("guard_not_mounted");
  });

  it("answers 503 with Retry-After when the broker is down", async () => {
    const down = new Hono().get("/", agentwritGuard({ brokerUrl: await closedPortUrl(), brokerTimeoutMs: 500 }), (c) => c.text("ok"));
    const res = await down.request("/", auth(token));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("www-authenticate")).toBeNull();
  });

  it("throws HTTPException with the challenge as res and the GuardError as cause, for onError", async () => {
    const custom = new Hono();
    custom.get("/", agentwritGuard("admin:all:x", guard), (c) => c.text("ok"));
    custom.onError((err, c) => {
      if (err instanceof HTTPException && isGuardError(err.cause)) {
        const res = err.getResponse();
        return c.json({ custom: err.cause.code, challenge: res.headers.get("www-authenticate") }, err.status);
      }
      return c.text("other", 500);
    });
    const res = await custom.request("/", auth(token));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ custom: "insufficient_scope", challenge: expect.stringContaining('scope="admin:all:x"') });
  });
});

describe("options", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("refuses an options function that returns a promise with a 500, its rejection consumed", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => {
      rejections.push(e);
    };
    process.on("unhandledRejection", onRejection);
    try {
      const asyncOptions = (() => Promise.reject(new Error("async options"))) as unknown as () => GuardOptions;
      const resolving = (() => Promise.resolve({ publicKey: key.publicKeyPem })) as unknown as () => GuardOptions;
      const app2 = new Hono();
      app2.get("/a", agentwritGuard(asyncOptions), ok);
      app2.get("/b", agentwritGuard(resolving), ok);
      expect((await app2.request("/a", auth(token))).status).toBe(500);
      expect((await app2.request("/b", auth(token))).status).toBe(500);
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("unhandledRejection", onRejection);
    }
    expect(rejections).toEqual([]);
    expect(errors).toHaveBeenCalled();
  });

  it("accepts options as a function of the context, with one guard per configuration", async () => {
    let calls = 0;
    const options = (c: Context): GuardOptions => {
      calls++;
      return { publicKey: (c.env as { AGENTWRIT_PUBLIC_KEY: string }).AGENTWRIT_PUBLIC_KEY, onDecision };
    };
    const decisions: string[] = [];
    const onDecision = (e: { outcome: string }): void => {
      decisions.push(e.outcome);
    };
    const fnApp = new Hono<AgentWritEnv>();
    fnApp.get("/a", agentwritGuard(options), ok);
    fnApp.get("/b", agentwritGuard("read:data:customer-42", options), ok);
    const env = { AGENTWRIT_PUBLIC_KEY: key.publicKeyPem };
    expect((await fnApp.request("/a", auth(token), env)).status).toBe(200);
    expect((await fnApp.request("/b", auth(token), { ...env })).status).toBe(200);
    expect((await fnApp.request("/b", auth(token), { AGENTWRIT_PUBLIC_KEY: other.publicKeyPem })).status).toBe(401);
    expect(calls).toBe(3);
    // /a and /b share a guard: the second request was a cache hit.
    expect(decisions).toEqual(["allow", "allow", "deny"]);
  });

  it("reads AGENTWRIT_* from process.env when given no options, and fails clearly without them", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    const envApp = new Hono().get("/", agentwritGuard("read:data:customer-42"), (c) => c.text("ok"));
    expect((await envApp.request("/", auth(token))).status).toBe(200);
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", "");
    expect(() => agentwritGuard()).toThrow(/AGENTWRIT_BROKER_URL/);
    expect(() => agentwritGuard("nope", guard)).toThrow(TypeError);
    expect(() => requireAnyScope()).toThrow(TypeError);
  });

  it("without a process global, reads the bindings from c.env", async () => {
    vi.stubGlobal("process", undefined);
    let mw: ReturnType<typeof agentwritGuard>;
    try {
      mw = agentwritGuard();
    } finally {
      vi.unstubAllGlobals();
    }
    const workerApp = new Hono().get("/", mw, (c) => c.text("ok"));
    // A missing configuration is a programming error: it surfaces as a 500, not a refusal.
    workerApp.onError((err, c) => c.text(err instanceof TypeError ? "config" : "other", 500));
    expect((await workerApp.request("/", auth(token), { AGENTWRIT_PUBLIC_KEY: key.publicKeyPem })).status).toBe(200);
    const res = await workerApp.request("/", auth(token), {});
    expect([res.status, await res.text()]).toEqual([500, "config"]);
  });
});

describe("typing", () => {
  it("composes with app Bindings and context-function options", async () => {
    type Bindings = { AGENTWRIT_PUBLIC_KEY: string };
    // Chained from use("*"), the app's type carries the agent: every route after it is guarded.
    const worker = new Hono<{ Bindings: Bindings }>().use("*", agentwritGuard((c) => ({ publicKey: (c.env as Bindings).AGENTWRIT_PUBLIC_KEY })));
    worker.get("/", (c) => c.text(`${c.var.agentwrit.agentId} ${c.env.AGENTWRIT_PUBLIC_KEY.length}`));
    expect((await worker.request("/", auth(token), { AGENTWRIT_PUBLIC_KEY: key.publicKeyPem })).status).toBe(200);
  });
});
