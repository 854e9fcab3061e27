/**
 * Wiring mistakes are the server's fault (500, logged once, never a 401/400 blaming the client);
 * where placeholders come from; the logger; decision phases; one guard per configuration.
 */
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, createGuard, requireAnyScope, requireScope, type AgentWritContext, type GuardLogger } from "../src/index.js";

const key = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string): RequestInit => ({ headers: { authorization: bearer(t) } });

interface Line {
  level: string;
  obj: object;
  msg: string | undefined;
}
function memoryLogger(): GuardLogger & { readonly lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const ok = (c: AgentWritContext) => c.json({ agent: c.var.agentwrit.agentId });
const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { code: string }).code;

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("wiring mistakes", () => {
  it("requireScope with no guard before it: 500 guard_not_mounted, no challenge, one error line naming the route", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = new Hono();
    app.get("/unguarded", requireScope("read:data:customer-42"), ok);
    app.get("/any/:id", requireAnyScope("read:data:customer-{id}"), ok);
    for (let i = 0; i < 3; i++) {
      const res = await app.request("/unguarded", auth(token));
      expect(res.status).toBe(500);
      expect(res.headers.get("www-authenticate")).toBeNull();
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await codeOf(res)).toBe("guard_not_mounted");
    }
    const res = await app.request("/any/42");
    expect([res.status, await codeOf(res)]).toEqual([500, "guard_not_mounted"]);
    const lines = errors.mock.calls.map((c) => JSON.stringify(c));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("GET /unguarded");
    expect(lines[1]).toContain("GET /any/:id");
    for (const line of lines) expect(line).not.toContain(token);
  });

  it("a placeholder the route does not declare: 500 requirement_param_missing, named in the log only", async () => {
    const logger = memoryLogger();
    const logged = createGuard({ publicKey: key.publicKeyPem, logger });
    const app = new Hono();
    app.get("/customers/:customerId", agentwritGuard("read:data:customer-{id}", logged), ok);
    app.use("/chain/*", agentwritGuard(logged));
    app.get("/chain/customers/:customerId", requireScope("read:data:customer-{id}"), ok);
    for (const path of ["/customers/42", "/chain/customers/42"]) {
      const res = await app.request(path, auth(token));
      expect(res.status).toBe(500);
      expect(res.headers.get("www-authenticate")).toBeNull();
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ code: "requirement_param_missing", status: 500 });
      expect(text).not.toContain("{id}");
    }
    const errors = logger.lines.filter((l) => l.level === "error");
    expect(errors.map((e) => (e.obj as { route: string }).route)).toEqual(["GET /customers/:customerId", "GET /chain/customers/:customerId"]);
    for (const e of errors) {
      expect(e.obj).toMatchObject({ code: "requirement_param_missing", phase: "authorize" });
      expect((e.obj as { reason: string }).reason).toContain("{id}");
    }
    expect(JSON.stringify(logger.lines)).not.toContain(token);
  });

  it("without a guard logger, the mistake is written once to the console", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = new Hono().get("/c/:customerId", agentwritGuard("read:data:customer-{id}", guard), ok);
    expect((await app.request("/c/1", auth(token))).status).toBe(500);
    expect((await app.request("/c/2", auth(token))).status).toBe(500);
    expect(errors).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(errors.mock.calls[0])).toContain("{id}");
  });

  it("an optional parameter left out, or a present one that is empty or unsafe, stays 400 invalid_parameter", async () => {
    const app = new Hono();
    app.get("/opt/:id?", agentwritGuard("write:data:order-{id}", guard), ok);
    app.use("/chain/*", agentwritGuard(guard));
    app.get("/chain/opt/:id?", requireScope("write:data:order-{id}"), ok);
    app.get("/orders/:id", agentwritGuard("write:data:order-{id}", guard), ok);
    expect((await app.request("/opt/7", auth(token))).status).toBe(200);
    for (const path of ["/opt", "/chain/opt", "/orders/%2A", "/orders/%20", "/orders/%7Bid%7D"]) {
      const res = await app.request(path, auth(token));
      expect([path, res.status, await codeOf(res)]).toEqual([path, 400, "invalid_parameter"]);
    }
  });
});

describe("observability", () => {
  it("phase authorize for a scope failure inside verify", async () => {
    const events: { phase: string; outcome: string; code: string | undefined }[] = [];
    const observed = createGuard({ publicKey: key.publicKeyPem, onDecision: (e) => events.push(e) });
    const app = new Hono().get("/orders/:id", agentwritGuard("write:data:order-{id}", observed), ok);
    expect((await app.request("/orders/8", auth(token))).status).toBe(403);
    expect((await app.request("/orders/7", auth(token))).status).toBe(200);
    expect(events.map(({ phase, outcome, code }) => ({ phase, outcome, code }))).toEqual([
      { phase: "authorize", outcome: "deny", code: "insufficient_scope" },
      { phase: "authorize", outcome: "allow", code: undefined },
    ]);
  });

  it("takes a logger in the options: the description once at info, refusals at debug, never the token", async () => {
    const logger = memoryLogger();
    const app = new Hono().use("*", agentwritGuard({ publicKey: key.publicKeyPem, logger }));
    app.get("/x", ok);
    expect((await app.request("/x", auth(token))).status).toBe(200);
    expect((await app.request("/x", auth(mint(makeKey(), claims(), { kid: key.kid })))).status).toBe(401);
    expect((await app.request("/x", { headers: { authorization: `Bearer ${token} ${token}` } })).status).toBe(401);
    expect(logger.lines.filter((l) => l.level === "info" && l.msg?.includes("guard configured"))).toHaveLength(1);
    expect(logger.lines.some((l) => l.level === "debug" && l.msg?.includes("invalid_signature"))).toBe(true);
    const all = JSON.stringify(logger.lines);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split(".")[2]!);
  });

  it("options functions returning different loggers get different guards; the same logger, one guard", async () => {
    const a = memoryLogger();
    const b = memoryLogger();
    const app = new Hono();
    app.get("/a", agentwritGuard(() => ({ publicKey: key.publicKeyPem, logger: a })), ok);
    app.get("/b", agentwritGuard(() => ({ publicKey: key.publicKeyPem, logger: b })), ok);
    app.get("/a2", agentwritGuard(() => ({ publicKey: key.publicKeyPem, logger: a })), ok);
    for (const path of ["/a", "/b", "/a2", "/a"]) expect((await app.request(path, auth(token))).status).toBe(200);
    expect(a.lines.filter((l) => l.msg?.includes("guard configured"))).toHaveLength(1);
    expect(b.lines.filter((l) => l.msg?.includes("guard configured"))).toHaveLength(1);
    expect(a.lines.filter((l) => l.msg === "agentwrit: allowed")).toHaveLength(3);
    expect(b.lines.filter((l) => l.msg === "agentwrit: allowed")).toHaveLength(1);
  });
});

describe("zero configuration", () => {
  it("AGENTWRIT_LOG turns on a console logger; zero-config middlewares share one guard", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    vi.stubEnv("AGENTWRIT_AUDIENCE", "hono-zero-config");
    vi.stubEnv("AGENTWRIT_LOG", "debug");
    const audToken = mint(key, claims({ aud: ["hono-zero-config"] }));
    const info = vi.spyOn(console, "info").mockImplementation(() => undefined);
    const debug = vi.spyOn(console, "debug").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const app = new Hono();
    app.use("*", agentwritGuard());
    app.get("/orders/:id", agentwritGuard("write:data:order-{id}"), ok);
    expect((await app.request("/orders/7", auth(audToken))).status).toBe(200);
    expect((await app.request("/orders/8", auth(audToken))).status).toBe(403);
    expect(info.mock.calls.filter((c) => String(c[0]).includes("guard configured"))).toHaveLength(1);
    const decisions = debug.mock.calls.map((c) => c[1] as { phase: string; outcome: string });
    expect(decisions.map((d) => `${d.phase}:${d.outcome}`)).toEqual(["authenticate:allow", "authorize:allow", "authenticate:allow", "authorize:deny"]);
    expect(JSON.stringify([info.mock.calls, debug.mock.calls])).not.toContain(audToken);
  });

  it("without a process global, bindings with AGENTWRIT_LOG still give one guard for every request", async () => {
    vi.stubGlobal("process", undefined);
    let mw: ReturnType<typeof agentwritGuard>;
    try {
      mw = agentwritGuard();
    } finally {
      vi.unstubAllGlobals();
    }
    const info = vi.spyOn(console, "info").mockImplementation(() => undefined);
    vi.spyOn(console, "debug").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const app = new Hono().get("/", mw, ok);
    const env = { AGENTWRIT_PUBLIC_KEY: key.publicKeyPem, AGENTWRIT_ISSUER: "", AGENTWRIT_AUDIENCE: "hono-bindings", AGENTWRIT_LOG: "info" };
    const audToken = mint(key, claims({ aud: ["hono-bindings"] }));
    for (let i = 0; i < 5; i++) expect((await app.request("/", auth(audToken), { ...env })).status).toBe(200);
    // One guard built for the configuration, not one per request (each would log its description).
    expect(info.mock.calls.filter((c) => String(c[0]).includes("guard configured"))).toHaveLength(1);
  });
});
