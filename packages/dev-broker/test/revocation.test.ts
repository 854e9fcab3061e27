/** B.4, B.5.6, B.5.7, B.5.9, B.7; D.3, D.7, D.8 and D.1.13–15: Bearer middleware, revocation, renew, release. */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodePayload, expectProblem } from "./helpers.js";

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker();
});
afterAll(() => broker.close());

const isValid = async (b: DevBroker, token: string): Promise<boolean> => (await call(b, "POST", "/v1/token/validate", { body: { token } })).json.valid as boolean;

describe("Bearer middleware (B.4, D.23–D.25)", () => {
  it("missing header, wrong scheme, failed verification → 401, each audited as token_auth_failed", async () => {
    const before = (await call(broker, "GET", "/v1/audit/events?event_type=token_auth_failed", { token: broker.adminToken() })).json.total as number;
    expectProblem(await call(broker, "POST", "/v1/token/renew"), 401, "unauthorized", "missing authorization header");
    expectProblem(await call(broker, "POST", "/v1/token/renew", { headers: { Authorization: "bearer abc" } }), 401, "unauthorized", "invalid authorization scheme");
    expectProblem(await call(broker, "POST", "/v1/token/renew", { headers: { Authorization: "Basic abc" } }), 401, "unauthorized", "invalid authorization scheme");
    expectProblem(await call(broker, "POST", "/v1/token/renew", { headers: { Authorization: "Bearer garbage" } }), 401, "unauthorized", "token verification failed");
    const a = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    expectProblem(await call(broker, "POST", "/v1/token/renew", { headers: { Authorization: "Bearer  " + a.accessToken } }), 401, "unauthorized", "token verification failed");
    const after = (await call(broker, "GET", "/v1/audit/events?event_type=token_auth_failed", { token: broker.adminToken() })).json.total as number;
    expect(after - before).toBe(5);
  });

  it("token without the route scope → 403 insufficient_scope with a scope_violation event (D.24)", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: a.accessToken, body: { level: "token", target: "x" } }), 403, "insufficient_scope", "token lacks required scope: admin:revoke:*");
    expectProblem(await call(broker, "GET", "/v1/audit/events", { token: a.accessToken }), 403, "insufficient_scope", "token lacks required scope: admin:audit:*");
    const ev = await call(broker, "GET", "/v1/audit/events?event_type=scope_violation", { token: broker.adminToken() });
    expect(ev.json.total).toBeGreaterThanOrEqual(2);
  });

  it("audience: mismatch → 401 token audience mismatch; match → 200; unset → not checked (D.25)", async () => {
    // Two brokers sharing one signing key: one without an audience, one with "svc-b".
    const sharedKey = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const noAud = await startDevBroker({ signingKey: sharedKey });
    const audB = await startDevBroker({ signingKey: sharedKey, audience: "svc-b" });
    try {
      const tb = await audB.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      expect((await call(audB, "POST", "/v1/token/renew", { token: tb.accessToken })).status).toBe(200);
      const t = await noAud.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      expect((await call(audB, "POST", "/v1/token/validate", { body: { token: t.accessToken } })).json.valid).toBe(true);
      expectProblem(await call(audB, "POST", "/v1/token/release", { token: t.accessToken }), 401, "unauthorized", "token audience mismatch");
      const tb2 = await audB.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      expect((await call(noAud, "POST", "/v1/token/release", { token: tb2.accessToken })).status).toBe(204);
    } finally {
      await Promise.all([noAud.close(), audB.close()]);
    }
  });
});

describe("POST /v1/revoke (B.5.9, A.7, D.43–D.45)", () => {
  it("response shape and 400s", async () => {
    const t = broker.adminToken();
    const r = await call(broker, "POST", "/v1/revoke", { token: t, body: { level: "token", target: "nonexistent" } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ revoked: true, level: "token", target: "nonexistent", count: 1 });
    expect((await call(broker, "POST", "/v1/revoke", { token: t, body: { level: "token", target: "nonexistent" } })).status).toBe(200);
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: t, body: { level: "token" } }), 400, "invalid_request", "level and target are required");
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: t, body: { target: "x" } }), 400, "invalid_request", "level and target are required");
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: t, body: { level: "sid", target: "x" } }), 400, "invalid_request", "invalid revocation level: sid");
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: t, body: "[" }), 400, "invalid_request", "malformed JSON body");
  });

  it("token level: by jti; a revoked token gets 401 (not 403) on Bearer routes", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "tok", scope: ["read:data:*"] });
    const other = await broker.createAgent({ orchId: "o", taskId: "tok", scope: ["read:data:*"] });
    await broker.revoke("token", decodePayload(a.accessToken).jti);
    expect(await isValid(broker, a.accessToken)).toBe(false);
    expect(await isValid(broker, other.accessToken)).toBe(true);
    expectProblem(await call(broker, "POST", "/v1/token/renew", { token: a.accessToken }), 401, "unauthorized", "token verification failed");
  });

  it("agent level: by sub, exact match, including admin; does not cascade to tokens delegated by the agent", async () => {
    const b = await startDevBroker();
    try {
      const a = await b.createAgent({ orchId: "o", taskId: "ag", scope: ["read:data:*"] });
      const c = await b.createAgent({ orchId: "o", taskId: "ag2", scope: ["read:data:*"] });
      const d = await b.delegate(a.accessToken, { delegateTo: c.agentId, scope: ["read:data:*"] });
      await b.revoke("agent", a.agentId);
      expect(await isValid(b, a.accessToken)).toBe(false);
      expect(await isValid(b, d.accessToken)).toBe(true);
      const admin = (await call(b, "POST", "/v1/admin/auth", { body: { secret: b.adminSecret } })).json.access_token as string;
      await b.revoke("agent", "admin");
      expect(await isValid(b, admin)).toBe(false);
    } finally {
      await b.close();
    }
  });

  it("task level: catches delegated tokens carrying the delegator's task_id", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "task-rv", scope: ["read:data:*"] });
    const c = await broker.createAgent({ orchId: "o", taskId: "task-other", scope: ["read:data:*"] });
    const d = await broker.delegate(a.accessToken, { delegateTo: c.agentId, scope: ["read:data:*"] });
    await broker.revoke("task", "task-rv");
    expect(await isValid(broker, a.accessToken)).toBe(false);
    expect(await isValid(broker, d.accessToken)).toBe(false);
    expect(await isValid(broker, c.accessToken)).toBe(true);
  });

  it("chain level: root delegator only; root's own token untouched; depth 3 covered; other roots and jti targets do not match", async () => {
    const root = await broker.createAgent({ orchId: "o", taskId: "c0", scope: ["read:data:*"] });
    const mid = await broker.createAgent({ orchId: "o", taskId: "c1", scope: ["read:data:*"] });
    const leaf = await broker.createAgent({ orchId: "o", taskId: "c2", scope: ["read:data:*"] });
    const leaf2 = await broker.createAgent({ orchId: "o", taskId: "c3", scope: ["read:data:*"] });
    const d1 = await broker.delegate(root.accessToken, { delegateTo: mid.agentId, scope: ["read:data:*"] });
    const d2 = await broker.delegate(d1.accessToken, { delegateTo: leaf.agentId, scope: ["read:data:*"] });
    const d3 = await broker.delegate(d2.accessToken, { delegateTo: leaf2.agentId, scope: ["read:data:*"] });
    const otherRoot = await broker.delegate(mid.accessToken, { delegateTo: leaf.agentId, scope: ["read:data:*"] });
    await broker.revoke("chain", decodePayload(leaf.accessToken).jti);
    expect(await isValid(broker, leaf.accessToken)).toBe(true);
    await broker.revoke("chain", mid.agentId);
    expect(await isValid(broker, d2.accessToken)).toBe(true); // mid is in the middle of this chain: no match
    expect(await isValid(broker, otherRoot.accessToken)).toBe(false);
    await broker.revoke("chain", root.agentId);
    expect(await isValid(broker, root.accessToken)).toBe(true);
    for (const t of [d1, d2, d3]) expect(await isValid(broker, t.accessToken)).toBe(false);
  });
});

describe("POST /v1/token/renew (B.5.6, D.13–D.15)", () => {
  it("new token and jti, same identity and TTL; predecessor revoked first", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "rn", scope: ["read:data:*"], ttl: 120 });
    const r = await call(broker, "POST", "/v1/token/renew", { token: a.accessToken });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["access_token", "expires_in"]);
    expect(r.json.expires_in).toBe(120);
    const o = decodePayload(a.accessToken);
    const n = decodePayload(r.json.access_token);
    expect(n.jti).not.toBe(o.jti);
    expect({ ...n, jti: 0, iat: 0, nbf: 0, exp: 0 }).toEqual({ ...o, jti: 0, iat: 0, nbf: 0, exp: 0 });
    expect(await isValid(broker, a.accessToken)).toBe(false);
    expect(await isValid(broker, r.json.access_token)).toBe(true);
    expectProblem(await call(broker, "POST", "/v1/token/renew", { token: a.accessToken }), 401, "unauthorized", "token verification failed");
  });

  it("keeps chain and chain_hash; TTL carry-forward incl. the MaxTTL clamp (60 stays 60)", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "rn2", scope: ["read:data:*"] });
    const c = await broker.createAgent({ orchId: "o", taskId: "rn3", scope: ["read:data:*"] });
    const d = await broker.delegate(a.accessToken, { delegateTo: c.agentId, scope: ["read:data:*"] });
    const r = await broker.renew(d.accessToken);
    expect(r.expiresIn).toBe(60);
    const p = decodePayload(r.accessToken);
    expect(p.delegation_chain).toEqual(decodePayload(d.accessToken).delegation_chain);
    expect(p.chain_hash).toBe(decodePayload(d.accessToken).chain_hash);
  });

  it("admin and app tokens can renew", async () => {
    expect((await broker.renew(broker.adminToken())).expiresIn).toBe(300);
  });
});

describe("POST /v1/token/release (B.5.7, D.47)", () => {
  it("204 with no body; the jti is revoked; a second release → 401; a token_released event is written", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "rl", scope: ["read:data:*"] });
    const r = await call(broker, "POST", "/v1/token/release", { token: a.accessToken });
    expect(r.status).toBe(204);
    expect(r.text).toBe("");
    expect(r.headers.get("content-type")).toBeNull();
    expect(await isValid(broker, a.accessToken)).toBe(false);
    expectProblem(await call(broker, "POST", "/v1/token/release", { token: a.accessToken }), 401, "unauthorized", "token verification failed");
    const ev = await call(broker, "GET", "/v1/audit/events?event_type=token_released&agent_id=" + encodeURIComponent(a.agentId), { token: broker.adminToken() });
    expect(ev.json.total).toBe(1);
  });
});
