import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import express5 from "express";
import express4 from "express4";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { bearer, makeKey, mint } from "../../../test/support/tokens.js";
import { agentwritGuard, createGuard, requireScope, type AgentIdentity } from "../src/index.js";

const key = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem });

interface Seen {
  agent: string | undefined;
  own: boolean;
  enumerable: boolean;
}
const seen = (req: express5.Request): Seen => ({
  agent: req.agentwrit?.agentId,
  own: Object.hasOwn(req, "agentwrit"),
  enumerable: Object.keys(req).includes("agentwrit"),
});

describe.each([
  ["express 5", express5],
  ["express 4", express4],
])("%s: req.agentwrit is read through Express's request prototype, not written on each request", (_name, express) => {
  it("a verified request takes no own property; one no guard verified reads undefined", async () => {
    const app = express();
    app.get("/guarded", agentwritGuard(guard), (req, res) => {
      res.json(seen(req));
    });
    app.get("/open", (req, res) => {
      res.json(seen(req));
    });
    const guarded = (await request(app).get("/guarded").set("Authorization", bearer(token)).expect(200)).body as Seen;
    expect(guarded.agent).toMatch(/^spiffe:\/\//);
    expect(guarded.own).toBe(false);
    expect((await request(app).get("/open").set("Authorization", bearer(token)).expect(200)).body).toEqual({ own: false, enumerable: false });
  });

  it("every app and mounted sub-app sees it, however many apps share the prototype", async () => {
    const sub = express();
    sub.get("/who", (req, res) => {
      res.json(seen(req));
    });
    const first = express();
    first.use("/api", agentwritGuard(guard), sub);
    const second = express();
    second.get("/who", agentwritGuard(guard), (req, res) => {
      res.json(seen(req));
    });
    for (const app of [first, second, first]) {
      const path = app === first ? "/api/who" : "/who";
      const body = (await request(app).get(path).set("Authorization", bearer(token)).expect(200)).body as Seen;
      expect(body.agent).toMatch(/^spiffe:\/\//);
    }
  });

  it("assigning req.agentwrit defines the request's own property; the guard then overwrites it; requireScope never trusts it", async () => {
    const forged = { agentId: "spiffe://agentwrit.local/agent/forged/x/y", scope: ["admin:all:*"] } as unknown as AgentIdentity;
    const app = express();
    app.use((req, _res, next) => {
      req.agentwrit = forged;
      next();
    });
    app.get("/before", agentwritGuard(guard), (req, res) => {
      res.json(seen(req));
    });
    app.get(
      "/after",
      agentwritGuard(guard),
      (req, _res, next) => {
        req.agentwrit = forged;
        next();
      },
      requireScope("admin:all:x"),
      (_req, res) => {
        res.json({ reached: true });
      },
    );
    app.get("/unguarded", (req, res) => {
      res.json(seen(req));
    });
    const before = (await request(app).get("/before").set("Authorization", bearer(token)).expect(200)).body as Seen;
    expect(before.agent).not.toBe(forged.agentId);
    expect(before.agent).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\//);
    expect(before.own).toBe(true);
    // The forged identity holds admin:all:*; the verified token does not: 403, the handler never runs.
    const after = await request(app).get("/after").set("Authorization", bearer(token)).expect(403);
    expect(after.body).toMatchObject({ code: "insufficient_scope" });
    const unguarded = (await request(app).get("/unguarded").expect(200)).body as Seen;
    expect(unguarded).toEqual({ agent: forged.agentId, own: true, enumerable: true });
  });
});

describe("a request outside Express (the middleware called on Node's own request)", () => {
  it("gets req.agentwrit as its own property", async () => {
    const middleware = agentwritGuard(guard);
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const r = req as unknown as express5.Request;
      middleware(r, res as unknown as express5.Response, () => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(seen(r)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${String(port)}/`, { headers: { authorization: bearer(token) } });
      const body = (await res.json()) as Seen;
      expect(body.agent).toMatch(/^spiffe:\/\//);
      expect(body.own).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
