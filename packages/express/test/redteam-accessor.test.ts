/**
 * Red-team of the `req.agentwrit` accessor (packages/express/src/request-slot.ts, commit 29792a7).
 * Every test asserts the SAFE behaviour: a failing test is an attack that worked.
 *
 * Each test loads a FRESH copy of Express (its require cache cleared), so that the shared request
 * prototype (`express.request`) one test tampers with is never the one another test uses, and so
 * that "before the first guarded request" really is before the accessor was installed.
 */
import { randomBytes } from "node:crypto";
import { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { dirname, sep } from "node:path";
import type express5 from "express";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, createGuard, requireAnyScope, requireScope, type AgentIdentity } from "../src/index.js";

type ExpressFn = typeof express5;
type Req = express5.Request;
type Res = express5.Response;
type Next = express5.NextFunction;

const require = createRequire(import.meta.url);

/** A new, never-used copy of Express (`express` = 5, `express4` = 4): its own `express.request`. */
function freshExpress(pkg: "express" | "express4"): ExpressFn {
  const dir = dirname(require.resolve(`${pkg}/package.json`)) + sep;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- clearing Node's module cache is the point
  for (const k of Object.keys(require.cache)) if (k.startsWith(dir)) delete require.cache[k];
  return require(pkg) as ExpressFn;
}

const key = makeKey();
const guard = createGuard({ publicKey: key.publicKeyPem });
const hex = (n: number): string => randomBytes(n).toString("hex");
const agentOf = (tag: string): string => `spiffe://agentwrit.local/agent/orch-1/task-1/${tag}`;
/** A token never seen before (the guard's first verification of it is asynchronous). */
function freshToken(sub = agentOf(hex(8)), scope: string[] = ["read:data:customer-42", "write:data:order-7"]): { token: string; sub: string } {
  return { token: mint(key, claims({ sub, scope, jti: hex(16) })), sub };
}

const forged = { agentId: agentOf("forged"), scope: ["admin:all:*"] } as unknown as AgentIdentity;

const who = (req: Req, res: Res): void => {
  res.json({ agent: req.agentwrit?.agentId ?? null, type: typeof req.agentwrit });
};
const whoAfter =
  (ms: number) =>
  (req: Req, res: Res): void => {
    setTimeout(() => who(req, res), ms);
  };

/** Sends the same fresh token twice: the first request takes the async path, the second the cached (sync) path. */
async function bothPaths(app: express5.Express, path: string, tok = freshToken()): Promise<{ sub: string; bodies: { agent: string | null }[] }> {
  const bodies: { agent: string | null }[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await request(app).get(path).set("Authorization", bearer(tok.token)).timeout(3000);
    expect(res.status).toBe(200);
    bodies.push(res.body as { agent: string | null });
  }
  return { sub: tok.sub, bodies };
}

const rejections: unknown[] = [];
const onRejection = (e: unknown): void => {
  rejections.push(e);
};
beforeEach(() => {
  rejections.length = 0;
  process.on("unhandledRejection", onRejection);
  vi.spyOn(console, "error").mockImplementation(() => undefined);
});
afterEach(() => {
  process.off("unhandledRejection", onRejection);
  vi.restoreAllMocks();
});

describe.each([
  ["express 5", "express" as const, "express4" as const],
  ["express 4", "express4" as const, "express" as const],
])("%s", (_name, pkg, otherPkg) => {
  // ---------------------------------------------------------------- 1. what a guarded handler sees

  describe("1. a guarded handler sees exactly this request's verified identity", () => {
    it("concurrent requests with distinct tokens (app.use and route guards, async and cached paths) each see their own", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.use("/mw", agentwritGuard(guard));
      app.get("/mw/who", whoAfter(5));
      app.get("/route", agentwritGuard(guard), whoAfter(5));
      app.get("/open", whoAfter(5));
      const toks = Array.from({ length: 20 }, () => freshToken());
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(
          toks.flatMap((t, i) => [
            request(app).get(i % 2 ? "/mw/who" : "/route").set("Authorization", bearer(t.token)).then((r) => ({ r, t })),
            request(app).get("/open").set("Authorization", bearer(t.token)).then((r) => ({ r, t: undefined })),
          ]),
        );
        for (const { r, t } of results) {
          expect(r.status).toBe(200);
          expect(r.body.agent).toBe(t === undefined ? null : t.sub);
        }
      }
    });

    it("guard app-wide in the parent, handler in a mounted sub-app and a router (same Express)", async () => {
      const express = freshExpress(pkg);
      const sub = express();
      sub.get("/who", who);
      const router = express.Router();
      router.get("/who", who);
      const app = express();
      app.use(agentwritGuard(guard));
      app.use("/sub", sub);
      app.use("/router", router);
      for (const path of ["/sub/who", "/router/who"]) {
        const { sub: s, bodies } = await bothPaths(app, path);
        expect(bodies.map((b) => b.agent)).toEqual([s, s]);
      }
    });

    it("guard inside a sub-app, handler in the parent after the sub-app falls through (prototype restored)", async () => {
      const express = freshExpress(pkg);
      const sub = express();
      sub.use(agentwritGuard(guard));
      const app = express();
      app.use("/x", sub);
      app.get("/x/who", who);
      const { sub: s, bodies } = await bothPaths(app, "/x/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("two Express apps in one process, one guarded after the other, both see their own identity", async () => {
      const express = freshExpress(pkg);
      const a = express();
      a.get("/who", agentwritGuard(guard), who);
      const b = express();
      b.get("/who", agentwritGuard(guard), who);
      for (const app of [a, b, a, b]) {
        const { sub: s, bodies } = await bothPaths(app, "/who");
        expect(bodies.map((x) => x.agent)).toEqual([s, s]);
      }
    });

    it("a sub-app built with ANOTHER copy of Express (two copies in node_modules) mounted behind the parent's guard still sees the identity", async () => {
      const express = freshExpress(pkg);
      const otherExpress = freshExpress(otherPkg);
      const sub = otherExpress();
      sub.get("/who", who);
      const app = express();
      app.use(agentwritGuard(guard));
      app.use("/sub", sub as unknown as express5.Express);
      const { sub: s, bodies } = await bothPaths(app, "/sub/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("a guard inside a sub-app built with another copy of Express: the parent's handler after it still sees the identity", async () => {
      const express = freshExpress(pkg);
      const otherExpress = freshExpress(otherPkg);
      const sub = otherExpress();
      sub.use(agentwritGuard(guard));
      const app = express();
      app.use("/x", sub as unknown as express5.Express);
      app.get("/x/who", who);
      const { sub: s, bodies } = await bothPaths(app, "/x/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("a sub-app called as a plain handler (vhost-style / lazy `(req, res, next) => sub(req, res, next)`, same Express) behind the guard", async () => {
      const express = freshExpress(pkg);
      const sub = express();
      sub.get("/who", who);
      const app = express();
      app.use(agentwritGuard(guard));
      app.use((req: Req, res: Res, next: Next) => {
        (sub as unknown as (q: Req, s: Res, n: Next) => void)(req, res, next);
      });
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    // Known limit (packages/express/src/request-slot.ts, README): a request moved onto a prototype
    // chain without the accessor AFTER the guard reads req.agentwrit as undefined there. It never
    // reads another identity, and requireScope still decides from what the guard verified.
    it("known limit: a sub-app of ANOTHER Express copy called as a plain handler (never mounted) reads undefined; requireScope there still decides correctly", async () => {
      const express = freshExpress(pkg);
      const otherExpress = freshExpress(otherPkg);
      const sub = otherExpress();
      sub.get("/who", who);
      sub.get("/allowed", requireScope("read:data:customer-42"), who);
      sub.get("/denied", requireScope("admin:all:x"), who);
      const app = express();
      app.use(agentwritGuard(guard));
      app.use((req: Req, res: Res, next: Next) => {
        (sub as unknown as (q: Req, s: Res, n: Next) => void)(req, res, next);
      });
      const { bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([null, null]);
      const tok = freshToken();
      expect((await request(app).get("/allowed").set("Authorization", bearer(tok.token))).status).toBe(200);
      expect((await request(app).get("/denied").set("Authorization", bearer(tok.token))).status).toBe(403);
    });

    it("app.request.agentwrit = undefined (a 'default' declared on the app's request) BEFORE the first request", async () => {
      const express = freshExpress(pkg);
      const app = express();
      (app.request as { agentwrit?: unknown }).agentwrit = undefined;
      app.get("/who", agentwritGuard(guard), who);
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("app.request.agentwrit = undefined AFTER the accessor was installed (another app served a guarded request)", async () => {
      const express = freshExpress(pkg);
      const first = express();
      first.get("/who", agentwritGuard(guard), who);
      await bothPaths(first, "/who");
      const app = express();
      (app.request as { agentwrit?: unknown }).agentwrit = undefined;
      app.get("/who", agentwritGuard(guard), who);
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("Object.defineProperty(app.request, 'agentwrit', { get }) (forged getter) before the first request", async () => {
      const express = freshExpress(pkg);
      const app = express();
      Object.defineProperty(app.request, "agentwrit", { get: () => forged, configurable: true });
      app.get("/who", agentwritGuard(guard), who);
      const res = await request(app).get("/who").set("Authorization", bearer(freshToken().token)).timeout(3000);
      // Safe: either the verified identity, or a server error; never the forged one with a 200.
      if (res.status === 200) expect(res.body.agent).not.toBe(forged.agentId);
      else expect(res.status).toBe(500);
    });

    it("express.request.agentwrit = X BEFORE the first request: guarded handlers see the verified identity, unguarded ones X", async () => {
      const express = freshExpress(pkg);
      (express.request as { agentwrit?: unknown }).agentwrit = forged;
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      app.get("/open", who);
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
      expect((await request(app).get("/open").expect(200)).body.agent).toBe(forged.agentId);
    });

    it("express.request.agentwrit = undefined AFTER the app served a guarded request (e.g. another app's init code)", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      await bothPaths(app, "/who");
      (express.request as { agentwrit?: unknown }).agentwrit = undefined;
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("express.request.agentwrit = forged AFTER the app served a guarded request: guarded handlers must not see it", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      await bothPaths(app, "/who");
      (express.request as { agentwrit?: unknown }).agentwrit = forged;
      const { bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).not.toContain(forged.agentId);
    });

    it("delete express.request.agentwrit at run time (in a middleware) after the first guarded request", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      await bothPaths(app, "/who");
      delete (express.request as { agentwrit?: unknown }).agentwrit;
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("known limit: a middleware after the guard swaps req's prototype to one outside Express's chain: undefined, never another identity", async () => {
      const express = freshExpress(pkg);
      const app = express();
      const custom = Object.create(IncomingMessage.prototype) as object;
      app.get(
        "/who",
        agentwritGuard(guard),
        (req: Req, _res: Res, next: Next) => {
          Object.setPrototypeOf(req, custom);
          next();
        },
        (req: Req, res: Res) => {
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ agent: req.agentwrit?.agentId ?? null }));
        },
      );
      const { bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([null, null]);
    });

    it("a middleware after the guard swaps req's prototype to a child of app.request (keeps Express's chain)", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get(
        "/who",
        agentwritGuard(guard),
        (req: Req, _res: Res, next: Next) => {
          Object.setPrototypeOf(req, Object.create(app.request));
          next();
        },
        who,
      );
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("a frozen express.request BEFORE the first request: identity still seen (own property)", async () => {
      const express = freshExpress(pkg);
      Object.freeze(express.request);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("a sealed express.request BEFORE the first request, and a frozen app.request", async () => {
      const express = freshExpress(pkg);
      Object.seal(express.request);
      const app = express();
      Object.freeze(app.request);
      app.get("/who", agentwritGuard(guard), who);
      const { sub: s, bodies } = await bothPaths(app, "/who");
      expect(bodies.map((b) => b.agent)).toEqual([s, s]);
    });

    it("express.request frozen AFTER the accessor was installed; a forged req.agentwrit before the guard is still overwritten", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.use((req: Req, _res: Res, next: Next) => {
        if (req.path === "/forged") req.agentwrit = forged;
        next();
      });
      app.get("/who", agentwritGuard(guard), who);
      app.get("/forged", agentwritGuard(guard), who);
      await bothPaths(app, "/who");
      Object.freeze(express.request);
      for (const path of ["/who", "/forged"]) {
        const { sub: s, bodies } = await bothPaths(app, path);
        expect(bodies.map((b) => b.agent)).toEqual([s, s]);
      }
    });
  });

  // ---------------------------------------------------------------- 2. requireScope trusts only the WeakMap

  describe("2. requireScope / requireAnyScope refuse what the token does not grant", () => {
    const admin = freshToken(agentOf("admin"), ["admin:all:x", "read:data:customer-42"]);

    function scopedApp(express: ExpressFn, tamper: (req: Req) => void): express5.Express {
      const app = express();
      let adminIdentity: AgentIdentity | undefined;
      app.get("/admin", agentwritGuard(guard), (req: Req, res: Res) => {
        adminIdentity = req.agentwrit;
        res.json({ ok: true });
      });
      const capture = (req: Req, _res: Res, next: Next): void => {
        tamper(req);
        if (req.query.steal !== undefined && adminIdentity !== undefined) {
          try {
            req.agentwrit = adminIdentity;
          } catch {
            Object.defineProperty(req, "agentwrit", { value: adminIdentity, configurable: true });
          }
        }
        next();
      };
      const handler = (_req: Req, res: Res): void => {
        res.json({ reached: true });
      };
      app.get("/all", agentwritGuard(guard), capture, requireScope("admin:all:x"), handler);
      app.get("/any", agentwritGuard(guard), capture, requireAnyScope("admin:all:x", "admin:all:y"), handler);
      app.use("/chain", agentwritGuard(guard));
      app.get("/chain/all", capture, requireScope("admin:all:x"), handler);
      return app;
    }

    const tampers: [string, (express: ExpressFn) => (req: Req) => void][] = [
      ["forged req.agentwrit with admin scope", () => (req) => (req.agentwrit = forged)],
      ["identity of another (admin) request assigned (?steal)", () => () => undefined],
      [
        "accessor deleted from express.request at run time, then forged",
        (e) => (req) => {
          delete (e.request as { agentwrit?: unknown }).agentwrit;
          req.agentwrit = forged;
        },
      ],
      [
        "accessor redefined on express.request to return a forged identity",
        (e) => () => {
          Object.defineProperty(e.request, "agentwrit", { get: () => forged, configurable: true });
        },
      ],
      [
        "Object.setPrototypeOf(req, proto with a forged agentwrit)",
        () => (req) => {
          Object.setPrototypeOf(req, Object.create(Object.getPrototypeOf(req) as object, { agentwrit: { value: forged } }));
        },
      ],
      [
        "own getter on req returning the forged identity",
        () => (req) => {
          Object.defineProperty(req, "agentwrit", { get: () => forged, configurable: true });
        },
      ],
    ];

    it.each(tampers)("%s: 403 on every path", async (_label, make) => {
      const express = freshExpress(pkg);
      const app = scopedApp(express, make(express));
      await request(app).get("/admin").set("Authorization", bearer(admin.token)).expect(200);
      const weak = freshToken();
      for (let i = 0; i < 2; i++) {
        for (const path of ["/all", "/any", "/chain/all", "/all?steal=1", "/chain/all?steal=1"]) {
          const res = await request(app).get(path).set("Authorization", bearer(weak.token)).timeout(3000);
          expect(res.status, path).toBe(403);
          expect(res.body).toMatchObject({ code: "insufficient_scope" });
        }
      }
    });

    it("requireScope with no guard, whatever req.agentwrit or the prototype claims: 500 guard_not_mounted, never 401/200", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/warm", agentwritGuard(guard), who);
      await bothPaths(app, "/warm");
      app.get(
        "/x",
        (req: Req, _res: Res, next: Next) => {
          req.agentwrit = forged;
          next();
        },
        requireScope("admin:all:x"),
        who,
      );
      const other = express();
      Object.defineProperty(other.request, "agentwrit", { get: () => forged, configurable: true });
      other.get("/y", requireAnyScope("admin:all:x"), who);
      for (const [a, path] of [[app, "/x"], [other, "/y"]] as const) {
        const res = await request(a).get(path).set("Authorization", bearer(admin.token)).timeout(3000);
        expect(res.status).toBe(500);
        expect(res.body).toMatchObject({ code: "guard_not_mounted" });
      }
    });
  });

  // ---------------------------------------------------------------- 3. crashes, hangs, misattributed errors

  describe("3. no crash, no unhandled rejection, no 401/400 for a wiring mistake", () => {
    const cases: [string, (express: ExpressFn, app: express5.Express) => void][] = [
      [
        "a non-writable agentwrit declared on express.request (then frozen)",
        (e) => {
          (e.request as { agentwrit?: unknown }).agentwrit = undefined;
          Object.freeze(e.request);
        },
      ],
      [
        "a getter-only agentwrit on express.request",
        (e) => {
          Object.defineProperty(e.request, "agentwrit", { get: () => undefined, configurable: true });
        },
      ],
      [
        "a getter-only own agentwrit on req, set by a middleware before the guard",
        (_e, app) => {
          app.use((req: Req, _res: Res, next: Next) => {
            Object.defineProperty(req, "agentwrit", { get: () => undefined, configurable: true });
            next();
          });
        },
      ],
    ];

    it.each(cases)("%s: the request is answered (200 with the identity, or 500), first (async) and cached paths alike; no unhandled rejection", async (_label, tamper) => {
      const express = freshExpress(pkg);
      const app = express();
      tamper(express, app);
      app.get("/who", agentwritGuard(guard), who);
      const tok = freshToken();
      const outcomes: string[] = [];
      for (const path of ["async (first sight of the token)", "cached"]) {
        try {
          const res = await request(app).get("/who").set("Authorization", bearer(tok.token)).timeout(1500);
          outcomes.push(`${path}: ${String(res.status)}`);
        } catch (e) {
          outcomes.push(`${path}: no answer (${(e as Error).message})`);
        }
      }
      await new Promise((r) => setTimeout(r, 20));
      for (const e of rejections) outcomes.push(`unhandled rejection: ${String(e)}`);
      expect(outcomes.filter((o) => !/: (200|500)$/.test(o))).toEqual([]);
    });

    it("tampering with the prototype never turns into a 401/400 for a valid token", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      await bothPaths(app, "/who");
      Object.defineProperty(express.request, "agentwrit", { get: () => forged, set: () => undefined, configurable: true });
      const tok = freshToken();
      for (let i = 0; i < 2; i++) {
        const res = await request(app).get("/who").set("Authorization", bearer(tok.token)).timeout(3000);
        expect([401, 400]).not.toContain(res.status);
      }
    });
  });

  // ---------------------------------------------------------------- 4. nothing unguarded observes an identity

  describe("4. a request no guard verified never reads an identity it was not given by the app", () => {
    it("unguarded routes, other apps, sub-apps and the prototypes themselves read undefined after many verified requests", async () => {
      const express = freshExpress(pkg);
      const sub = express();
      sub.get("/open", who);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      app.get("/open", who);
      app.use("/sub", sub);
      const other = express();
      other.get("/open", who);
      const tok = freshToken();
      await Promise.all(Array.from({ length: 10 }, () => request(app).get("/who").set("Authorization", bearer(tok.token)).expect(200)));
      for (const [a, path] of [
        [app, "/open"],
        [app, "/sub/open"],
        [other, "/open"],
      ] as const) {
        const res = await request(a).get(path).set("Authorization", bearer(tok.token)).expect(200);
        expect(res.body).toEqual({ agent: null, type: "undefined" });
      }
      for (const proto of [express.request, app.request, sub.request, other.request]) {
        expect((proto as { agentwrit?: unknown }).agentwrit).toBeUndefined();
      }
    });

    it("objects derived from a verified request, or a request whose guard failed, read undefined", async () => {
      const express = freshExpress(pkg);
      const app = express();
      let derived: unknown = "unset";
      app.get("/who", agentwritGuard(guard), (req: Req, res: Res) => {
        derived = (Object.create(req) as Req).agentwrit;
        res.json({ ok: true });
      });
      app.get("/bad", agentwritGuard({ guard, passErrors: true }));
      app.use((_err: unknown, req: Req, res: Res, _next: Next) => {
        res.status(401).json({ agent: req.agentwrit?.agentId ?? null });
      });
      await request(app).get("/who").set("Authorization", bearer(freshToken().token)).expect(200);
      expect(derived).toBeUndefined();
      const res = await request(app).get("/bad").set("Authorization", bearer(mint(makeKey()))).expect(401);
      expect(res.body.agent).toBeNull();
    });

    it("a request the app assigned itself keeps the app's value; no other request inherits it", async () => {
      const express = freshExpress(pkg);
      const app = express();
      app.get("/who", agentwritGuard(guard), who);
      app.get("/mine", (req: Req, res: Res) => {
        req.agentwrit = forged;
        who(req, res);
      });
      app.get("/open", who);
      await bothPaths(app, "/who");
      expect((await request(app).get("/mine").expect(200)).body.agent).toBe(forged.agentId);
      expect((await request(app).get("/open").expect(200)).body.agent).toBeNull();
    });
  });
});
