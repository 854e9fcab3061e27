import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuard, type GuardErrorCode } from "../src/index.js";
import { json, payloadOf, startFakeBroker, type FakeBroker } from "./support/fake-broker.js";
import { bearer, claims, makeKey, mint } from "./support/tokens.js";

const key = makeKey();
let broker: FakeBroker;
const valid: Parameters<typeof startFakeBroker>[0] = (_req, res, token) =>
  json(res, 200, { valid: true, claims: payloadOf(token ?? "") });

beforeAll(async () => {
  broker = await startFakeBroker(valid);
});
afterAll(async () => {
  await broker.close();
});

async function code(p: Promise<unknown>): Promise<{ code: GuardErrorCode; status: number; headers: Record<string, string> }> {
  return p.then(
    () => ({ code: "none" as GuardErrorCode, status: 200, headers: {} }),
    (e: { code: GuardErrorCode; status: number; headers: Record<string, string> }) => e,
  );
}

describe("broker mode", () => {
  it("valid:true → identity from the broker's claims, checked like local ones", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url + "/" });
    const t = await mint(key);
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "broker", scope: ["read:data:customer-42", "write:data:order-7"] });
    const g2 = createGuard({ brokerUrl: broker.url, audience: "https://api.example" });
    expect(await code(g2.authenticate(bearer(t)))).toMatchObject({ code: "audience_mismatch", status: 401 });
  });
  it("asks on every request at maxStalenessSec 0; reuses within maxStalenessSec", async () => {
    broker.behaviour = valid;
    const t = await mint(key);
    const g0 = createGuard({ brokerUrl: broker.url });
    const before = broker.calls;
    await g0.authenticate(bearer(t));
    await g0.authenticate(bearer(t));
    expect(broker.calls - before).toBe(2);
    const g5 = createGuard({ brokerUrl: broker.url, maxStalenessSec: 5 });
    const b2 = broker.calls;
    await g5.authenticate(bearer(t));
    await expect(g5.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache" });
    expect(broker.calls - b2).toBe(1);
  });
  it("coalesces concurrent requests for one token into one broker call", async () => {
    broker.behaviour = (_q, res, token) => {
      setTimeout(() => json(res, 200, { valid: true, claims: payloadOf(token ?? "") }), 50);
    };
    const guard = createGuard({ brokerUrl: broker.url });
    const t = await mint(key);
    const before = broker.calls;
    const all = await Promise.all(Array.from({ length: 100 }, () => guard.authenticate(bearer(t))));
    expect(all).toHaveLength(100);
    expect(broker.calls - before).toBe(1);
    expect(guard.stats().brokerCalls).toBe(1);
  });
  it("valid:false → token_inactive, remembered until exp", async () => {
    broker.behaviour = (_q, res) => json(res, 200, { valid: false, error: "token is invalid or expired" });
    const guard = createGuard({ brokerUrl: broker.url });
    const t = await mint(key);
    expect(await code(guard.authenticate(bearer(t)))).toMatchObject({ code: "token_inactive", status: 401 });
    const before = broker.calls;
    expect(await code(guard.authenticate(bearer(t)))).toMatchObject({ code: "token_inactive" });
    expect(broker.calls).toBe(before);
  });
  it.each([400, 413, 401, 403])("HTTP %i from the broker → 401 broker_rejected", async (status) => {
    broker.behaviour = (_q, res) => json(res, status, { error_code: "x" });
    const guard = createGuard({ brokerUrl: broker.url });
    expect(await code(guard.authenticate(bearer(await mint(key))))).toMatchObject({ code: "broker_rejected", status: 401 });
  });
  it.each<[string, Parameters<typeof startFakeBroker>[0]]>([
    ["500", (_q, res) => json(res, 500, { error: "boom" })],
    ["502", (_q, res) => json(res, 502, {})],
    ["HTML", (_q, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<html>oops</html>"); }],
    ["truncated JSON", (_q, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end('{"valid":tr'); }],
    ["valid without claims", (_q, res) => json(res, 200, { valid: true })],
    ["not an object", (_q, res) => json(res, 200, [true])],
    ["a huge body", (_q, res) => { res.writeHead(200); res.end(Buffer.alloc(5 * 1024 * 1024, 0x20)); }],
    ["malformed claims", (_q, res) => json(res, 200, { valid: true, claims: { sub: 1 } })],
    ["a redirect", (_q, res) => { res.writeHead(302, { location: "http://127.0.0.1:1/" }); res.end(); }],
  ])("%s → 503 broker_unavailable with Retry-After", async (_n, behaviour) => {
    broker.behaviour = behaviour;
    const guard = createGuard({ brokerUrl: broker.url });
    const e = await code(guard.authenticate(bearer(await mint(key))));
    expect(e).toMatchObject({ code: "broker_unavailable", status: 503 });
    expect(e.headers["Retry-After"]).toBe("1");
  });
  it("claims for another token → 503 broker_claims_mismatch", async () => {
    broker.behaviour = (_q, res, token) => json(res, 200, { valid: true, claims: { ...payloadOf(token ?? ""), jti: "ffffffffffffffffffffffffffffffff" } });
    const guard = createGuard({ brokerUrl: broker.url });
    expect(await code(guard.authenticate(bearer(await mint(key))))).toMatchObject({ code: "broker_claims_mismatch", status: 503 });
  });
  it("slow broker → 503 within the timeout, and it recovers by itself", async () => {
    broker.behaviour = () => undefined; // accepts and never answers
    const guard = createGuard({ brokerUrl: broker.url, brokerTimeoutMs: 150 });
    const t = await mint(key);
    const started = performance.now();
    expect(await code(guard.authenticate(bearer(t)))).toMatchObject({ code: "broker_unavailable", status: 503 });
    expect(performance.now() - started).toBeLessThan(1500);
    broker.behaviour = valid;
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "broker" });
  });
  it("broker down (connection refused) → 503", async () => {
    const down = await startFakeBroker(valid);
    const url = down.url;
    await down.close();
    const guard = createGuard({ brokerUrl: url });
    expect(await code(guard.authenticate(bearer(await mint(key))))).toMatchObject({ code: "broker_unavailable", status: 503 });
  });
  it("structurally bad tokens never reach the broker", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url });
    const before = broker.calls;
    expect(await code(guard.authenticate("Bearer abc.def.ghi"))).toMatchObject({ code: "malformed_token" });
    expect(await code(guard.authenticate(bearer(await mint(key, claims({ exp: 1 })))))).toMatchObject({ code: "token_expired" });
    expect(broker.calls).toBe(before);
  });
});

describe("hybrid mode", () => {
  it("verifies locally, then asks the broker; a revoked token is refused", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk });
    expect(guard.mode).toBe("hybrid");
    const t = await mint(key);
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "broker" });
    broker.behaviour = (_q, res) => json(res, 200, { valid: false, error: "token is invalid or expired" });
    expect(await code(guard.authenticate(bearer(t)))).toMatchObject({ code: "token_inactive" });
  });
  it("forged tokens are refused locally without a broker call", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk });
    const before = broker.calls;
    expect(await code(guard.authenticate(bearer(await mint(makeKey()))))).toMatchObject({ code: "unknown_kid" });
    expect(broker.calls).toBe(before);
  });
  it("maxStalenessSec bounds how long a broker answer is reused", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk, maxStalenessSec: 5 });
    const t = await mint(key);
    const before = broker.calls;
    await guard.authenticate(bearer(t));
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache" });
    expect(broker.calls - before).toBe(1);
    const realNow = Date.now;
    const base = realNow();
    Date.now = () => base + 6000;
    try {
      await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "broker" });
      expect(broker.calls - before).toBe(2);
    } finally {
      Date.now = realNow;
    }
  });
  it("broker outage in hybrid is a 503, never a pass", async () => {
    broker.behaviour = (_q, res) => json(res, 503, {});
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk });
    expect(await code(guard.authenticate(bearer(await mint(key))))).toMatchObject({ code: "broker_unavailable", status: 503 });
  });
  it("broker claims for another subject → mismatch", async () => {
    broker.behaviour = (_q, res, token) => json(res, 200, { valid: true, claims: { ...payloadOf(token ?? ""), sub: "spiffe://agentwrit.local/agent/x/y/z" } });
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk });
    expect(await code(guard.authenticate(bearer(await mint(key))))).toMatchObject({ code: "broker_claims_mismatch" });
  });
});

describe("local mode never calls the broker", () => {
  it("mode local with a brokerUrl configured", async () => {
    broker.behaviour = valid;
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk, mode: "local" });
    const before = broker.calls;
    await expect(guard.authenticate(bearer(await mint(key)))).resolves.toMatchObject({ source: "local" });
    expect(broker.calls).toBe(before);
  });
});
