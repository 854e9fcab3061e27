/**
 * Wiring mistakes are the server's fault (500, logged once, never a 401/400 blaming the client);
 * route context (labels, where placeholders come from); the logger; decision phases.
 */
import express5, { type Express } from "express";
import express4 from "express4";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, createGuard, requireAnyScope, requireScope, type AgentWritRequest, type GuardLogger } from "../src/index.js";

const key = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });

/** A logger that keeps every line (level, object, message). */
function memoryLogger(): GuardLogger & { readonly lines: { level: string; obj: object; msg: string | undefined }[] } {
  const lines: { level: string; obj: object; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const ok = (req: AgentWritRequest, res: express5.Response): void => {
  res.json({ agent: req.agentwrit.agentId });
};

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe.each([
  ["express 5", express5, "/opt{/:id}"],
  ["express 4", express4, "/opt/:id?"],
])("%s", (_name, express, optionalPath) => {
  function build(setup: (app: Express) => void): Express {
    const app = express();
    setup(app);
    return app;
  }

  it("requireScope with no guard before it: 500 guard_not_mounted, no challenge, one error line naming the route", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = build((a) => {
      a.get("/unguarded", requireScope("read:data:customer-42"), ok);
      a.get("/any", requireAnyScope("read:data:customer-42"), ok);
    });
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get("/unguarded").set("Authorization", bearer(token)).expect(500);
      expect(res.headers["www-authenticate"]).toBeUndefined();
      expect(res.headers["content-type"]).toBe("application/problem+json");
      expect(res.body).toMatchObject({ code: "guard_not_mounted", status: 500 });
      expect(JSON.stringify(res.body)).not.toContain("/unguarded");
    }
    // Without a token too: the client is not told its token is missing.
    expect((await request(app).get("/any").expect(500)).body.code).toBe("guard_not_mounted");
    const lines = errors.mock.calls.map((c) => c.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" "));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("GET /unguarded");
    expect(lines[0]).toContain("guard_not_mounted");
    expect(lines[1]).toContain("requireAnyScope");
    for (const line of lines) expect(line).not.toContain(token);
  });

  it("a placeholder the route does not declare: 500 requirement_param_missing, named in the log only", async () => {
    const logger = memoryLogger();
    const logged = createGuard({ publicKey: key.publicKeyPem, logger });
    const app = build((a) => {
      a.get("/customers/:customerId", agentwritGuard("read:data:customer-{id}", logged), ok);
      a.use("/chain", agentwritGuard(logged));
      a.get("/chain/customers/:customerId", requireScope("read:data:customer-{id}"), ok);
    });
    for (const path of ["/customers/42", "/chain/customers/42"]) {
      const res = await request(app).get(path).set("Authorization", bearer(token)).expect(500);
      expect(res.body).toMatchObject({ code: "requirement_param_missing", status: 500 });
      expect(res.headers["www-authenticate"]).toBeUndefined();
      expect(res.text).not.toContain("{id}");
    }
    const errors = logger.lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(2);
    expect(errors.map((e) => (e.obj as { route: string }).route)).toEqual(["GET /customers/:customerId", "GET /chain/customers/:customerId"]);
    for (const e of errors) {
      expect(e.obj).toMatchObject({ code: "requirement_param_missing", phase: "authorize" });
      expect((e.obj as { reason: string }).reason).toContain("{id}");
    }
    expect(JSON.stringify(logger.lines)).not.toContain(token);
  });

  it("without a guard logger, the mistake is written once to the console", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const app = build((a) => a.get("/c/:customerId", agentwritGuard("read:data:customer-{id}", guard), ok));
    await request(app).get("/c/1").set("Authorization", bearer(token)).expect(500);
    await request(app).get("/c/2").set("Authorization", bearer(token)).expect(500);
    expect(errors).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(errors.mock.calls[0])).toContain("{id}");
  });

  it("an optional parameter left out, or a present one that is empty or unsafe, stays 400 invalid_parameter", async () => {
    const app = build((a) => {
      a.get(optionalPath, agentwritGuard("write:data:order-{id}", guard), ok);
      a.get("/orders/:id", agentwritGuard("write:data:order-{id}", guard), ok);
    });
    await request(app).get("/opt/7").set("Authorization", bearer(token)).expect(200);
    const absent = await request(app).get("/opt").set("Authorization", bearer(token)).expect(400);
    expect(absent.body.code).toBe("invalid_parameter");
    for (const value of ["%2A", "%20", "%7Bid%7D"]) {
      expect((await request(app).get(`/orders/${value}`).set("Authorization", bearer(token)).expect(400)).body.code).toBe("invalid_parameter");
    }
  });

  it("decisions carry the route and phase authorize for a scope failure inside verify", async () => {
    const events: { phase: string; outcome: string; route: string | undefined; code: string | undefined }[] = [];
    const observed = createGuard({ publicKey: key.publicKeyPem, onDecision: (e) => events.push(e) });
    const app = build((a) => a.get("/orders/:id", agentwritGuard("write:data:order-{id}", observed), ok));
    await request(app).get("/orders/8").set("Authorization", bearer(token)).expect(403);
    await request(app).get("/orders/7").set("Authorization", bearer(token)).expect(200);
    expect(events.map(({ phase, outcome, route, code }) => ({ phase, outcome, route, code }))).toEqual([
      { phase: "authorize", outcome: "deny", route: "GET /orders/:id", code: "insufficient_scope" },
      { phase: "authorize", outcome: "allow", route: "GET /orders/:id", code: undefined },
    ]);
  });

  it("takes a logger inline: the description once at info, refusals at debug, never the token", async () => {
    const logger = memoryLogger();
    const app = build((a) => {
      a.use(agentwritGuard({ publicKey: key.publicKeyPem, logger, realm: "api" }));
      a.get("/x", ok);
    });
    await request(app).get("/x").set("Authorization", bearer(token)).expect(200);
    await request(app).get("/x").set("Authorization", bearer(mint(makeKey(), claims(), { kid: key.kid }))).expect(401);
    await request(app).get("/x").set("Authorization", `Bearer ${token} ${token}`).expect(401);
    expect(logger.lines.filter((l) => l.level === "info" && l.msg?.includes("guard configured"))).toHaveLength(1);
    expect(logger.lines.some((l) => l.level === "debug" && l.msg?.includes("invalid_signature"))).toBe(true);
    const all = JSON.stringify(logger.lines);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split(".")[2]!);
  });
});

describe("zero configuration", () => {
  it("AGENTWRIT_LOG turns on a console logger; two zero-config middlewares share one guard (one description)", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    vi.stubEnv("AGENTWRIT_AUDIENCE", "express-zero-config");
    vi.stubEnv("AGENTWRIT_LOG", "debug");
    const token = mint(key, claims({ aud: ["express-zero-config"] }));
    const info = vi.spyOn(console, "info").mockImplementation(() => undefined);
    const debug = vi.spyOn(console, "debug").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const app = express5();
    app.use(agentwritGuard());
    app.get("/orders/:id", agentwritGuard("write:data:order-{id}"), ok);
    await request(app).get("/orders/7").set("Authorization", bearer(token)).expect(200);
    await request(app).get("/orders/8").set("Authorization", bearer(token)).expect(403);
    const described = info.mock.calls.filter((c) => String(c[0]).includes("guard configured"));
    expect(described).toHaveLength(1);
    // One verification per request (authenticate, then only authorize on the route): the guard is shared.
    const decisions = debug.mock.calls.map((c) => c[1] as { phase: string; outcome: string });
    expect(decisions.map((d) => `${d.phase}:${d.outcome}`)).toEqual(["authenticate:allow", "authorize:allow", "authenticate:allow", "authorize:deny"]);
    expect(JSON.stringify([info.mock.calls, debug.mock.calls])).not.toContain(token);
  });
});
