/** B.5.8 and D.35–D.42: delegation over HTTP. */
import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeChainHash, delegationSigningInput } from "@agentwrit/guard";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodePayload, expectProblem } from "./helpers.js";

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker({ audience: "aud-1" });
});
afterAll(() => broker.close());

const agent = (taskId: string, scope = ["read:data:*", "write:data:*"]) => broker.createAgent({ orchId: "orch", taskId, scope });

describe("POST /v1/delegate", () => {
  it("success: token, chain with the delegator's full scope, inherited task/orch/aud, default ttl 60 (D.35, D.39)", async () => {
    const a = await agent("t-a");
    const b = await agent("t-b", ["other:x:y"]);
    const r = await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: b.agentId, scope: ["read:data:x"], ttl: 0 } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["access_token", "expires_in", "delegation_chain"]);
    expect(r.json.expires_in).toBe(60);
    expect(r.json.delegation_chain).toHaveLength(1);
    const rec = r.json.delegation_chain[0];
    expect(Object.keys(rec)).toEqual(["agent", "scope", "delegated_at", "signature"]);
    expect(rec.agent).toBe(a.agentId);
    expect(rec.scope).toEqual(["read:data:*", "write:data:*"]);
    expect(rec.delegated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/);
    expect(rec.signature).toMatch(/^[0-9a-f]{128}$/);
    const c = decodePayload(r.json.access_token);
    expect(Object.keys(c)).toEqual(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id", "delegation_chain", "chain_hash"]);
    expect(c.sub).toBe(b.agentId);
    expect(c.scope).toEqual(["read:data:x"]);
    expect(c.task_id).toBe("t-a");
    expect(c.aud).toEqual(["aud-1"]);
    expect(c.exp - c.iat).toBe(60);
    expect(c.delegation_chain).toEqual(r.json.delegation_chain);
  });

  it("record signatures verify under the broker key and chain_hash matches (D.41, D.42); the chain grows a→b→c (D.40)", async () => {
    const a = await agent("t-1");
    const b = await agent("t-2");
    const c = await agent("t-3");
    const d1 = await broker.delegate(a.accessToken, { delegateTo: b.agentId, scope: ["read:data:*"], ttl: 120 });
    expect(d1.expiresIn).toBe(120);
    const d2 = await broker.delegate(d1.accessToken, { delegateTo: c.agentId, scope: ["read:data:q"] });
    expect(d2.delegationChain.map((r) => r.agent)).toEqual([a.agentId, b.agentId]);
    expect(d2.delegationChain[1]!.scope).toEqual(["read:data:*"]);
    const pub = createPublicKey(broker.publicKeyPem);
    for (const rec of d2.delegationChain) {
      expect(verify(null, Buffer.from(delegationSigningInput(rec)), pub, Buffer.from(rec.signature!, "hex"))).toBe(true);
    }
    const h1 = decodePayload(d1.accessToken).chain_hash;
    const h2 = decodePayload(d2.accessToken).chain_hash;
    expect(h1).toBe(await computeChainHash(d1.delegationChain));
    expect(h2).toBe(await computeChainHash(d2.delegationChain));
    expect(h1).not.toBe(h2);
    expect(decodePayload(d2.accessToken).task_id).toBe("t-1");
  });

  it("depth: five hops succeed, the sixth → 403 delegation depth limit exceeded (D.36)", async () => {
    const root = await agent("depth-0");
    let token = root.accessToken;
    for (let i = 1; i <= 5; i++) {
      const next = await agent(`depth-${String(i)}`);
      token = (await broker.delegate(token, { delegateTo: next.agentId, scope: ["read:data:*"] })).accessToken;
    }
    expect(decodePayload(token).delegation_chain).toHaveLength(5);
    const last = await agent("depth-6");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token, body: { delegate_to: last.agentId, scope: ["read:data:*"] } }), 403, "scope_violation", "delegation depth limit exceeded");
  });

  it("wider scope → 403 with an audit event; equal scope is allowed (D.36)", async () => {
    const a = await agent("w-a", ["read:data:x"]);
    const b = await agent("w-b");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: b.agentId, scope: ["read:data:*"] } }), 403, "scope_violation", "delegated scope exceeds delegator scope");
    expect((await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: b.agentId, scope: ["read:data:x"] } })).status).toBe(200);
    const ev = await call(broker, "GET", "/v1/audit/events?event_type=delegation_attenuation_violation", { token: broker.adminToken() });
    expect(ev.json.total).toBeGreaterThanOrEqual(1);
  });

  it("unknown delegate → 404; missing fields → 500 (broker quirk, D.37, D.38); malformed → 400", async () => {
    const a = await agent("m-a");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: "spiffe://agentwrit.local/agent/x/y/z", scope: ["read:data:x"] } }), 404, "not_found", "delegate agent not found");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { scope: ["read:data:x"] } }), 500, "internal_error", "delegation failed");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: a.agentId } }), 500, "internal_error", "delegation failed");
    expectProblem(await call(broker, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: a.agentId, scope: ["read:data:x"], ttl: "60" } }), 400, "invalid_request", "malformed JSON body");
    expectProblem(await call(broker, "POST", "/v1/delegate", { body: {} }), 401, "unauthorized", "missing authorization header");
  });

  it("an admin token mints launch tokens for admin scopes, and delegates them: such an agent reads the audit log (Appendix 3)", async () => {
    const admin = broker.adminToken();
    const registered = await broker.createAgent({ orchId: "o", taskId: "auditor", scope: ["admin:audit:*"] });
    expect((await call(broker, "GET", "/v1/audit/events?limit=1", { token: registered.accessToken })).status).toBe(200);
    const plain = await agent("plain", ["read:data:*"]);
    const d = await broker.delegate(admin, { delegateTo: plain.agentId, scope: ["admin:audit:*"] });
    expect(d.delegationChain.map((r) => r.agent)).toEqual(["admin"]);
    expect(decodePayload(d.accessToken)).toMatchObject({ sub: plain.agentId, scope: ["admin:audit:*"], delegation_chain: [{ agent: "admin" }] });
    expect((await call(broker, "GET", "/v1/audit/events?limit=1", { token: d.accessToken })).status).toBe(200);
    expect((await call(broker, "GET", "/v1/audit/events?limit=1", { token: plain.accessToken })).status).toBe(403);
  });

  it("an admin token can delegate admin scope to an agent (chain[0].agent = admin); ttl is clamped, not bounded by the delegator", async () => {
    const b = await startDevBroker({ maxTtl: 500 });
    try {
      const target = await b.createAgent({ orchId: "o", taskId: "t", scope: ["x:y:z"], ttl: 10 });
      const d = await b.delegate(b.adminToken(), { delegateTo: target.agentId, scope: ["admin:revoke:*"], ttl: 100000 });
      expect(d.expiresIn).toBe(500);
      expect(d.delegationChain[0]!.agent).toBe("admin");
      const d2 = await b.delegate(target.accessToken, { delegateTo: target.agentId, scope: ["x:y:z"], ttl: 400 });
      expect(d2.expiresIn).toBe(400);
    } finally {
      await b.close();
    }
  });
});
