import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuard } from "../src/index.js";
import { bearer, claims, kidOf, makeKey, mint, nowSec } from "./support/tokens.js";

const key = makeKey();
const next = makeKey();
let server: Server;
let url = "";
let fetches = 0;
let mode: "ok" | "down" | "slow" | "rotated" = "ok";

beforeAll(async () => {
  const kid = await kidOf(key);
  server = createServer((_req, res) => {
    fetches++;
    if (mode === "down") {
      res.writeHead(500);
      res.end();
      return;
    }
    if (mode === "slow") return;
    res.writeHead(200, { "content-type": "application/json" });
    const served = mode === "rotated" ? next : key;
    res.end(JSON.stringify({ keys: [{ ...served.jwk, kid: mode === "rotated" ? served.kid : kid, alg: "EdDSA", use: "sig" }] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("JWKS", () => {
  it("verifies with a key from the JWKS", async () => {
    mode = "ok";
    const guard = createGuard({ jwksUri: url });
    await expect(guard.authenticate(bearer(await mint(key)))).resolves.toMatchObject({ source: "local" });
  });
  it("a flood of unknown kids costs at most one fetch per cooldown", async () => {
    mode = "ok";
    const guard = createGuard({ jwksUri: url });
    await guard.authenticate(bearer(await mint(key)));
    const before = fetches;
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => mint(key, undefined, { kid: `unknown-${i}` }).then((t) => guard.authenticate(bearer(t)))));
    expect(results.every((r) => r.status === "rejected" && (r.reason as { code: string }).code === "unknown_kid")).toBe(true);
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
  it("garbage never drives JWKS fetches; a stale set is refreshed behind a verified token", async () => {
    mode = "ok";
    const guard = createGuard({ jwksUri: url });
    const t = await mint(key, claims({ exp: nowSec() + 3600 }));
    await guard.authenticate(bearer(t));
    const before = fetches;
    const realNow = Date.now;
    const base = realNow();
    Date.now = () => base + 11 * 60_000; // past jose's 10-minute cacheMaxAge, inside the token's life
    try {
      for (let i = 0; i < 20; i++) await guard.authenticate(`Bearer garbage.token.x${String(i)}`).catch(() => undefined);
      expect(fetches).toBe(before);
      await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache" });
      await new Promise((r) => setTimeout(r, 100));
      expect(fetches).toBe(before + 1);
    } finally {
      Date.now = realNow;
    }
  });
  it("cached tokens are dropped when the key set changes", async () => {
    mode = "ok";
    const guard = createGuard({ jwksUri: url });
    const t = await mint(key, claims({ exp: nowSec() + 3600 }));
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "local" });
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache" });
    mode = "rotated"; // the old key leaves the set
    const realNow = Date.now;
    const base = realNow();
    Date.now = () => base + 11 * 60_000; // the set is stale: a cache hit refreshes it in the background
    try {
      await guard.authenticate(bearer(t));
      await new Promise((r) => setTimeout(r, 100));
      await expect(guard.authenticate(bearer(t))).rejects.toMatchObject({ code: "unknown_kid" });
      await expect(guard.authenticate(bearer(await mint(next, claims({ exp: nowSec() + 3600 }))))).resolves.toMatchObject({ source: "local" });
    } finally {
      Date.now = realNow;
      mode = "ok";
    }
  });
  it("JWKS outage or timeout → 503 jwks_unavailable, never 401", async () => {
    mode = "down";
    const guard = createGuard({ jwksUri: url });
    await expect(guard.authenticate(bearer(await mint(key)))).rejects.toMatchObject({ code: "jwks_unavailable", status: 503 });
    mode = "slow";
    const g2 = createGuard({ jwksUri: url, brokerTimeoutMs: 100 });
    await expect(g2.authenticate(bearer(await mint(key)))).rejects.toMatchObject({ code: "jwks_unavailable", status: 503 });
    mode = "ok";
    await expect(g2.authenticate(bearer(await mint(key)))).resolves.toBeDefined();
  });
});
