import express5, { type ErrorRequestHandler, type Express } from "express";
import express4 from "express4";
import request from "supertest";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { closedPortUrl } from "../../../test/support/servers.js";
import { agentwritGuard, anyOf, createGuard, isGuardError, requireAnyScope, requireScope, type AgentIdentity, type Guard } from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });

function build(express: typeof express5, setup: (app: Express) => void): Express {
  const app = express();
  setup(app);
  return app;
}

const ok = (req: express5.Request, res: express5.Response): void => {
  res.json({ agent: req.agentwrit?.agentId, scope: req.agentwrit?.scope });
};

beforeAll(() => {
  // requireScope without a guard logs the wiring mistake once on the console.
  vi.spyOn(console, "error").mockImplementation(() => undefined);
});

describe.each([
  ["express 5", express5],
  ["express 4", express4],
])("%s", (_name, express) => {
  const app = build(express, (a) => {
    a.get("/me", agentwritGuard({ guard }), ok);
    a.get("/orders/:id", agentwritGuard("write:data:order-{id}", guard), ok);
    a.get("/both", agentwritGuard(["read:data:customer-42", "write:data:x", "admin:all:x"], guard), ok);
    a.get("/either", agentwritGuard(anyOf("admin:all:x", "read:data:customer-42"), guard), ok);
    a.use("/chain", agentwritGuard(guard));
    a.get("/chain/orders/:id", requireScope("write:data:order-{id}"), ok);
    a.get("/chain/any", requireAnyScope("admin:all:x", "write:data:order-7"), ok);
    a.get("/unguarded", requireScope("read:data:customer-42"), ok);
    a.get(
      "/forged",
      (req, _res, next) => {
        req.agentwrit = { agentId: "x", scope: ["read:data:customer-42"] } as unknown as AgentIdentity;
        next();
      },
      requireScope("read:data:customer-42"),
      ok,
    );
  });

  it("lets a valid agent through with its identity on req.agentwrit", async () => {
    const res = await request(app).get("/me").set("Authorization", bearer(token)).expect(200);
    expect(res.body).toEqual({ agent: claims().sub, scope: ["read:data:customer-42", "write:data:order-7"] });
  });

  it("answers 401 with a bare challenge when no token is sent", async () => {
    const res = await request(app).get("/me").expect(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="api"');
    expect(res.headers["content-type"]).toBe("application/problem+json");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.body).toMatchObject({ code: "missing_token", status: 401 });
  });

  it("answers 401 invalid_token for a token signed by another key", async () => {
    const res = await request(app).get("/me").set("Authorization", bearer(mint(other, claims(), { kid: key.kid }))).expect(401);
    expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect(res.body.code).toBe("invalid_signature");
  });

  it("refuses duplicate Authorization headers", async () => {
    const res = await request(app).get("/me").set("Authorization", [bearer(token), bearer(token)] as unknown as string).expect(401);
    expect(res.body.code).toBe("malformed_authorization");
  });

  it("binds templates to route params, refusing unsafe values with 400", async () => {
    await request(app).get("/orders/7").set("Authorization", bearer(token)).expect(200);
    const denied = await request(app).get("/orders/8").set("Authorization", bearer(token)).expect(403);
    expect(denied.headers["www-authenticate"]).toContain('scope="write:data:order-8"');
    const bad = await request(app).get("/orders/%2A").set("Authorization", bearer(token)).expect(400);
    expect(bad.body.code).toBe("invalid_parameter");
    expect(bad.headers["www-authenticate"]).toContain('error="invalid_request"');
  });

  it("names every missing scope in a 403, and accepts any-of", async () => {
    const res = await request(app).get("/both").set("Authorization", bearer(token)).expect(403);
    expect(res.headers["www-authenticate"]).toContain('error="insufficient_scope"');
    expect(res.headers["www-authenticate"]).toContain('scope="write:data:x admin:all:x"');
    expect(res.body.scope).toEqual(["write:data:x", "admin:all:x"]);
    await request(app).get("/either").set("Authorization", bearer(token)).expect(200);
  });

  it("requireScope and requireAnyScope check the agent verified earlier", async () => {
    await request(app).get("/chain/orders/7").set("Authorization", bearer(token)).expect(200);
    await request(app).get("/chain/orders/9").set("Authorization", bearer(token)).expect(403);
    await request(app).get("/chain/any").set("Authorization", bearer(token)).expect(200);
    await request(app).get("/chain/any").expect(401);
    // No guard before the check: the server's wiring mistake (500), not the client's missing token.
    const res = await request(app).get("/unguarded").set("Authorization", bearer(token)).expect(500);
    expect(res.body.code).toBe("guard_not_mounted");
    // Only an identity a guard returned is trusted, not whatever req.agentwrit holds.
    expect((await request(app).get("/forged").expect(500)).body.code).toBe("guard_not_mounted");
  });

  it("answers 503 with Retry-After when the broker is down", async () => {
    const down = agentwritGuard({ brokerUrl: await closedPortUrl(), brokerTimeoutMs: 500 });
    const res = await request(build(express, (a) => a.get("/", down, ok))).get("/").set("Authorization", bearer(token)).expect(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.body.code).toBe("broker_unavailable");
  });

  it("passErrors hands the GuardError to next(err)", async () => {
    const seen: unknown[] = [];
    const handler: ErrorRequestHandler = (err, _req, res, _next) => {
      seen.push(err);
      res.status(isGuardError(err) ? err.status : 500).json({ custom: isGuardError(err) ? err.code : "other" });
    };
    const custom = build(express, (a) => {
      a.get("/", agentwritGuard("admin:all:x", { guard, passErrors: true }), ok);
      a.use(handler);
    });
    const res = await request(custom).get("/").set("Authorization", bearer(token)).expect(403);
    expect(res.body).toEqual({ custom: "insufficient_scope" });
    expect(seen[0]).toMatchObject({ status: 403, statusCode: 403, expose: true, code: "insufficient_scope" });
    // Express's own final handler sends err.status and err.headers.
    const plain = build(express, (a) => a.get("/", agentwritGuard({ guard, passErrors: true }), ok));
    const fin = await request(plain).get("/").expect(401);
    expect(fin.headers["www-authenticate"]).toBe('Bearer realm="api"');
  });

  it("calls next() synchronously for a cached token (no promise, no tick); a refusal of a cached token too", async () => {
    const fresh = createGuard({ publicKey: key.jwk });
    const check = agentwritGuard("write:data:order-{id}", fresh);
    const sync: boolean[] = [];
    const probe: express5.RequestHandler<{ id: string }> = (req, res, next) => {
      const seen = { next: false };
      check(req, res, (e?: unknown) => {
        seen.next = true;
        next(e);
      });
      sync.push(seen.next || res.headersSent);
    };
    const probed = build(express, (a) => a.get("/orders/:id", probe, ok));
    await request(probed).get("/orders/7").set("Authorization", bearer(token)).expect(200);
    await request(probed).get("/orders/7").set("Authorization", bearer(token)).expect(200);
    await request(probed).get("/orders/8").set("Authorization", bearer(token)).expect(403);
    expect(sync).toEqual([false, true, true]);
  });

  it("turns a falsy throw inside the guard into an error, never next(undefined) (which Express reads as a pass)", async () => {
    const failing = createGuard({ publicKey: key.publicKeyPem });
    const reached = vi.fn();
    const guarded = build(express, (a) => {
      a.get("/", agentwritGuard(failing), (_req, res) => {
        reached();
        res.send("handler");
      });
      a.get("/scoped", agentwritGuard(failing), requireScope("read:data:customer-42"), (_req, res) => {
        reached();
        res.send("handler");
      });
      a.use(((err: unknown, _req, res, _next) => {
        res.status(500).send(err instanceof Error ? err.message : "not an error");
      }) as ErrorRequestHandler);
    });
    const spy = vi.spyOn(failing, "verifyCached").mockImplementation(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the hostile case under test
      throw undefined;
    });
    const res = await request(guarded).get("/").set("Authorization", bearer(token));
    expect(res.status).toBe(500);
    expect(res.text).toBe("agentwrit: a value that is not an error was thrown (undefined)");
    spy.mockRestore();
    vi.spyOn(failing, "authorize").mockImplementation(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the hostile case under test
      throw null;
    });
    const scoped = await request(guarded).get("/scoped").set("Authorization", bearer(token));
    expect(scoped.status).toBe(500);
    expect(scoped.text).toBe("agentwrit: a value that is not an error was thrown (null)");
    expect(reached).not.toHaveBeenCalled();
  });
});

describe("construction", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("reads AGENTWRIT_* from process.env when given no configuration", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    const app = build(express5, (a) => a.get("/", agentwritGuard("read:data:customer-42", { passErrors: false }), ok));
    await request(app).get("/").set("Authorization", bearer(token)).expect(200);
  });

  it("fails clearly at startup without configuration, or with a bad requirement", () => {
    for (const name of ["AGENTWRIT_BROKER_URL", "AGENTWRIT_PUBLIC_KEY", "AGENTWRIT_AUDIENCE"]) vi.stubEnv(name, "");
    expect(() => agentwritGuard()).toThrow(/AGENTWRIT_BROKER_URL/);
    expect(() => agentwritGuard("not a scope", guard)).toThrow(TypeError);
    expect(() => requireScope()).toThrow(TypeError);
    expect(() => agentwritGuard({ guard, publicKey: key.publicKeyPem })).toThrow(/either/);
  });

  it("keeps req.params typed from the route path", () => {
    const app = express5();
    app.get("/orders/:id", requireScope("write:data:order-{id}"), (req, res) => {
      const id: string = req.params.id;
      res.send(id);
    });
    app.use(agentwritGuard(guard));
  });

  it("shares one guard (one cache) between routes", async () => {
    const shared: Guard = createGuard({ publicKey: key.jwk });
    const app = build(express5, (a) => {
      a.get("/a", agentwritGuard(shared), ok);
      a.get("/b", agentwritGuard("read:data:customer-42", shared), ok);
    });
    await request(app).get("/a").set("Authorization", bearer(token)).expect(200);
    await request(app).get("/b").set("Authorization", bearer(token)).expect(200);
    expect(shared.stats().cacheSize).toBe(1);
  });
});
