/**
 * guarded(…, handler) on Express 4 and 5: agentwritGuard's check inside the route's one handler.
 * Same answers as the middleware (challenges, problem bodies, passErrors, 503), the handler's own
 * errors to next(err) (sync, async, cold and cached alike), no second verification behind an
 * app-wide guard, wiring mistakes at construction and in checkRoutes.
 */
import express5, { type ErrorRequestHandler, type Express } from "express";
import express4 from "express4";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { closedPortUrl } from "../../../test/support/servers.js";
import { agentwritGuard, checkRoutes, createGuard, guarded, isGuardError } from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });

const errors: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
  res.status(isGuardError(err) ? err.status : 500).json({ caught: isGuardError(err) ? err.code : err instanceof Error ? err.message : String(err) });
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  ["express 5", express5],
  ["express 4", express4],
])("guarded on %s", (_name, express) => {
  const build = (setup: (app: Express) => void): Express => {
    const app = express();
    setup(app);
    app.use(errors);
    return app;
  };

  const app = build((a) => {
    a.get("/me", guarded(guard, (req, res) => res.json({ agent: req.agentwrit.agentId, scope: req.agentwrit.scope })));
    a.get("/orders/:id", guarded("write:data:order-{id}", { guard }, (req, res) => res.json({ id: req.params.id, agent: req.agentwrit.agentId })));
    a.get("/mw/me", agentwritGuard(guard), (_req, res) => res.json({}));
    a.get("/mw/orders/:id", agentwritGuard("write:data:order-{id}", guard), (_req, res) => res.json({}));
    a.get("/throws", guarded(guard, () => {
      throw new Error("sync failure");
    }));
    a.get("/rejects", guarded(guard, async () => {
      await Promise.resolve();
      throw new Error("async failure");
    }));
    a.get("/passes", guarded("admin:all:x", { guard, passErrors: true }, (_req, res) => res.json({})));
  });

  it("calls the handler with the verified agent and the route's params", async () => {
    const me = await request(app).get("/me").set("authorization", bearer(token));
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ agent: claims().sub, scope: ["read:data:customer-42", "write:data:order-7"] });
    const order = await request(app).get("/orders/7").set("authorization", bearer(token));
    expect(order.body).toEqual({ id: "7", agent: claims().sub });
  });

  it("answers exactly as agentwritGuard does", async () => {
    const cases: [string, string | undefined][] = [
      ["me", undefined],
      ["me", "Bearer not-a-token"],
      ["me", bearer(mint(other, claims(), { kid: key.kid }))],
      ["orders/8", bearer(token)],
      ["orders/%2A", bearer(token)],
    ];
    for (const [path, authorization] of cases) {
      const send = (p: string) => (authorization === undefined ? request(app).get(p) : request(app).get(p).set("authorization", authorization));
      const ours = await send(`/${path}`);
      const theirs = await send(`/mw/${path}`);
      expect(ours.status, path).toBe(theirs.status);
      expect(ours.status).toBeGreaterThanOrEqual(400);
      expect(ours.headers["www-authenticate"]).toBe(theirs.headers["www-authenticate"]);
      expect(ours.headers["content-type"]).toBe(theirs.headers["content-type"]);
      expect(ours.text).toBe(theirs.text);
    }
  });

  it("hands a refusal to the error handler with passErrors, and never runs the handler", async () => {
    const res = await request(app).get("/passes").set("authorization", bearer(token));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ caught: "insufficient_scope" });
  });

  it("passes the handler's own errors to next(err), thrown or rejected, cold and cached", async () => {
    const fresh = createGuard({ publicKey: key.publicKeyPem });
    const errApp = build((a) => {
      a.get("/throws", guarded(fresh, () => {
        throw new Error("sync failure");
      }));
      a.get("/rejects", guarded(fresh, () => Promise.reject(new Error("async failure"))));
    });
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => {
      rejections.push(e);
    };
    process.on("unhandledRejection", onRejection);
    try {
      for (let i = 0; i < 2; i++) {
        const thrown = await request(errApp).get("/throws").set("authorization", bearer(token));
        expect(thrown.status).toBe(500);
        expect(thrown.body).toEqual({ caught: "sync failure" });
        const rejected = await request(errApp).get("/rejects").set("authorization", bearer(token));
        expect(rejected.status).toBe(500);
        expect(rejected.body).toEqual({ caught: "async failure" });
      }
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("unhandledRejection", onRejection);
    }
    expect(rejections).toEqual([]);
    expect((await request(app).get("/throws").set("authorization", bearer(token))).body).toEqual({ caught: "sync failure" });
    expect((await request(app).get("/rejects").set("authorization", bearer(token))).body).toEqual({ caught: "async failure" });
  });

  it("never lets a falsy throw pass the request on (Express reads next(undefined) as no error)", async () => {
    const reached = vi.fn();
    const falsy = build((a) => {
      a.get("/guard", guarded(guard, (_req, res) => res.send("handler")));
      a.get("/guard", (_req, res) => {
        reached();
        res.send("next route");
      });
      a.get("/handler", guarded(guard, () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the hostile case under test
        throw undefined;
      }));
      a.get("/handler", (_req, res) => {
        reached();
        res.send("next route");
      });
    });
    vi.spyOn(guard, "verifyCached").mockImplementation(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the hostile case under test
      throw undefined;
    });
    const res = await request(falsy).get("/guard").set("authorization", bearer(token));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ caught: "agentwrit: a value that is not an error was thrown (undefined)" });
    vi.restoreAllMocks();
    const thrown = await request(falsy).get("/handler").set("authorization", bearer(token));
    expect(thrown.status).toBe(500);
    expect(reached).not.toHaveBeenCalled();
  });

  it("behind an app-wide agentwritGuard of the same guard, checks only the requirement", async () => {
    const chained = build((a) => {
      a.use(agentwritGuard(guard));
      a.get("/orders/:id", guarded("write:data:order-{id}", guard, (req, res) => res.json({ agent: req.agentwrit.agentId })));
    });
    const verifyCached = vi.spyOn(guard, "verifyCached");
    const authorize = vi.spyOn(guard, "authorize");
    expect((await request(chained).get("/orders/7").set("authorization", bearer(token))).status).toBe(200);
    expect((await request(chained).get("/orders/9").set("authorization", bearer(token))).status).toBe(403);
    expect(verifyCached).toHaveBeenCalledTimes(2);
    expect(authorize).toHaveBeenCalledTimes(2);
  });

  it("answers 503 with Retry-After when the broker is down", async () => {
    const downUrl = await closedPortUrl();
    const down = build((a) => {
      a.get("/", guarded({ brokerUrl: downUrl, brokerTimeoutMs: 500 }, (_req, res) => res.send("ok")));
    });
    const res = await request(down).get("/").set("authorization", bearer(token));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.headers["www-authenticate"]).toBeUndefined();
  });

  it("refuses wiring mistakes at construction, and checkRoutes finds a placeholder the route lacks", () => {
    expect(() => guarded(guard as never)).toThrow(/last argument must be the route's handler/);
    expect(() => (guarded as (...a: unknown[]) => unknown)("read:data:x", guard, undefined, () => undefined)).toThrow(TypeError);
    expect(() => guarded("not a scope", guard, (_req, res) => res.send("ok"))).toThrow(TypeError);
    const wrong = build((a) => {
      a.get("/customers/:customerId", guarded("read:data:customer-{id}", guard, (_req, res) => res.send("ok")));
    });
    expect(() => checkRoutes(wrong)).toThrow(/\/customers\/:customerId.*\{id\}/);
    const right = build((a) => {
      a.get("/customers/:id", guarded("read:data:customer-{id}", guard, (_req, res) => res.send("ok")));
    });
    expect(checkRoutes(right)).toBe(1);
  });
});
