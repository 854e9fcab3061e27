/**
 * The core guard against the real protocol (the dev broker), wherever the broker's behaviour
 * matters: release, renewal, the four revocation levels, delegation (chain, signatures, hash),
 * and how each mode sees them.
 */
import { createGuard, type Guard } from "@agentwrit/guard";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let broker: DevBroker;
let local: Guard;
let online: Guard;
let hybrid: Guard;
let seq = 0;

const bearer = (t: string): string => "Bearer " + t;
const agent = (scope: string[], taskId = `task-${++seq}`) => broker.createAgent({ orchId: "orch-int", taskId, scope });
const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "accepted",
    (e: unknown) => (e as { code: string }).code,
  );

beforeAll(async () => {
  broker = await startDevBroker();
  local = createGuard({ mode: "local", publicKey: broker.publicKeyPem });
  online = createGuard({ mode: "broker", brokerUrl: broker.url });
  hybrid = createGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyJwk });
});
afterAll(() => broker.close());

describe("guard × dev broker", () => {
  it("a fresh agent token is accepted in every mode", async () => {
    const a = await agent(["read:data:customer-1"]);
    for (const g of [local, online, hybrid]) {
      await expect(g.authenticate(bearer(a.accessToken))).resolves.toMatchObject({ agentId: a.agentId, scope: ["read:data:customer-1"] });
    }
  });

  it("release: refused by broker and hybrid, still accepted locally (the documented trade-off)", async () => {
    const a = await agent(["read:data:customer-2"]);
    await broker.release(a.accessToken);
    expect(await code(online.authenticate(bearer(a.accessToken)))).toBe("token_inactive");
    expect(await code(hybrid.authenticate(bearer(a.accessToken)))).toBe("token_inactive");
    expect(await code(local.authenticate(bearer(a.accessToken)))).toBe("accepted");
  });

  it("renewal: the predecessor is inactive, the successor accepted with the same identity", async () => {
    const a = await agent(["read:data:customer-3"]);
    const renewed = await broker.renew(a.accessToken);
    expect(await code(hybrid.authenticate(bearer(a.accessToken)))).toBe("token_inactive");
    await expect(hybrid.authenticate(bearer(renewed.accessToken))).resolves.toMatchObject({ agentId: a.agentId });
  });

  it("revocation at each level reaches the guard in broker and hybrid modes", async () => {
    const byToken = await agent(["read:data:x"]);
    const byAgent = await agent(["read:data:x"]);
    const byTask = await agent(["read:data:x"], "task-revoked");
    const root = await agent(["read:data:*"]);
    const delegate = await agent(["read:data:y"]);
    const delegated = await broker.delegate(root.accessToken, { delegateTo: delegate.agentId, scope: ["read:data:x"] });
    const claims = (t: string) => JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()) as { jti: string };

    await broker.revoke("token", claims(byToken.accessToken).jti);
    await broker.revoke("agent", byAgent.agentId);
    await broker.revoke("task", "task-revoked");
    await broker.revoke("chain", root.agentId);
    for (const g of [online, hybrid]) {
      for (const t of [byToken, byAgent, byTask]) expect(await code(g.authenticate(bearer(t.accessToken)))).toBe("token_inactive");
      expect(await code(g.authenticate(bearer(delegated.accessToken)))).toBe("token_inactive");
      // Chain revocation does not touch the root's own undelegated token.
      expect(await code(g.authenticate(bearer(root.accessToken)))).toBe("accepted");
    }
  });

  it("delegation: chain, record signatures and chain_hash verified with the broker key; depth policy", async () => {
    const a = await agent(["read:data:*", "write:data:*"]);
    const b = await agent(["read:data:z"]);
    const c = await agent(["read:data:z"]);
    const ab = await broker.delegate(a.accessToken, { delegateTo: b.agentId, scope: ["read:data:*"] });
    const bc = await broker.delegate(ab.accessToken, { delegateTo: c.agentId, scope: ["read:data:order-1"] });
    const id = await hybrid.authenticate(bearer(bc.accessToken));
    expect(id).toMatchObject({ agentId: c.agentId, delegationDepth: 2 });
    expect(id.delegationChain.map((r) => r.agent)).toEqual([a.agentId, b.agentId]);
    expect(id.chainHash).toMatch(/^[0-9a-f]{64}$/);
    hybrid.authorize(id, "read:data:order-1");
    expect(() => hybrid.authorize(id, "read:data:order-2")).toThrow(expect.objectContaining({ code: "insufficient_scope" }) as Error);
    const shallow = createGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyPem, maxDelegationDepth: 1 });
    expect(await code(shallow.authenticate(bearer(bc.accessToken)))).toBe("delegation_too_deep");
    const onlyA = createGuard({ publicKey: broker.publicKeyPem, allowedDelegators: [a.agentId] });
    expect(await code(onlyA.authenticate(bearer(bc.accessToken)))).toBe("delegator_not_allowed");
    expect(await code(onlyA.authenticate(bearer(ab.accessToken)))).toBe("accepted");
  });

  it("admin and app tokens pass the broker's validate endpoint but not the guard", async () => {
    expect(await code(online.authenticate(bearer(broker.adminToken())))).toBe("subject_not_agent");
    const lax = createGuard({ mode: "broker", brokerUrl: broker.url, allowNonAgentSubjects: true });
    await expect(lax.authenticate(bearer(broker.adminToken()))).resolves.toMatchObject({ agentId: "admin" });
  });

  it("100 concurrent requests with one token make one broker call", async () => {
    const a = await agent(["read:data:customer-9"]);
    const g = createGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyPem });
    await g.authenticate(bearer(a.accessToken)); // warm the local signature cache
    broker.resetStats();
    await Promise.all(Array.from({ length: 100 }, () => g.authenticate(bearer(a.accessToken))));
    expect(broker.stats.validateCalls).toBe(1);
  });
});
