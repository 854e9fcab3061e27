/**
 * Tokens obtained by the official Python SDK are accepted or rejected correctly by
 * `@agentwrit/guard` in local, broker and hybrid modes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuard, isGuardError, type Guard } from "@agentwrit/guard";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodePayload, type Json } from "./helpers.js";
import { announceSkip, assertPython, runSdkFlow, skipPython } from "./python.js";

announceSkip("python-sdk guard interop");

async function rejection(guard: Guard, token: string): Promise<{ code: string; status: number }> {
  try {
    await guard.authenticate(bearer(token));
  } catch (e) {
    if (isGuardError(e)) return { code: e.code, status: e.status };
    throw e;
  }
  throw new Error("expected a rejection");
}

const bearer = (token: string): string => "Bearer " + token;

function tamper(token: string): string {
  const [h, p, s] = token.split(".");
  const sig = Buffer.from(s!, "base64url");
  sig[0] = sig[0]! ^ 1;
  return `${h}.${p}.${sig.toString("base64url")}`;
}

describe.skipIf(skipPython)("guard × tokens from the Python SDK", () => {
  let broker: DevBroker;
  let out: Json;
  let local: Guard;
  let localJwk: Guard;
  let online: Guard;
  let hybrid: Guard;

  beforeAll(async () => {
    assertPython();
    broker = await startDevBroker();
    const app = await broker.registerApp({ name: "py-guard-app", scopes: ["read:data:*", "write:data:*"] });
    out = await runSdkFlow(broker, app.clientId, app.clientSecret);
    local = createGuard({ mode: "local", publicKey: broker.publicKeyPem, clockToleranceSec: 0 });
    localJwk = createGuard({ mode: "local", publicKey: broker.publicKeyJwk, clockToleranceSec: 0 });
    online = createGuard({ mode: "broker", brokerUrl: broker.url, clockToleranceSec: 0 });
    hybrid = createGuard({ mode: "hybrid", brokerUrl: broker.url, publicKey: broker.publicKeyPem, clockToleranceSec: 0 });
  }, 90_000);
  afterAll(() => broker.close());

  it("local mode accepts every SDK token it can verify (revocation is invisible locally)", async () => {
    broker.resetStats();
    for (const g of [local, localJwk]) {
      for (const t of [out.agent.original_token, out.renewed.token, out.helper.token, out.delegated.token]) {
        const id = await g.authenticate(bearer(t));
        expect(id.jti).toBe(decodePayload(t).jti);
      }
    }
    expect(broker.stats.validateCalls).toBe(0);
    const id = await local.authenticate(bearer(out.renewed.token));
    expect(id.agentId).toBe(out.agent.agent_id);
    expect(id.scope).toEqual(["read:data:*", "write:data:report"]);
    expect(id.taskId).toBe("task-py");
    expect(id.orchId).toBe("orch-py");
    expect(id.issuer).toBe("");
  });

  it("broker mode: released and renewed-away tokens are inactive; live ones pass", async () => {
    broker.resetStats();
    expect(await rejection(online, out.agent.original_token)).toEqual({ code: "token_inactive", status: 401 });
    expect(await rejection(online, out.released_token)).toEqual({ code: "token_inactive", status: 401 });
    const helper = await online.authenticate(bearer(out.helper.token));
    expect(helper.agentId).toBe(out.helper.agent_id);
    const delegated = await online.authenticate(bearer(out.delegated.token));
    expect(delegated.agentId).toBe(out.helper.agent_id);
    expect(delegated.delegationDepth).toBe(1);
    expect(delegated.delegationChain[0]!.agent).toBe(out.agent.agent_id);
    expect(delegated.taskId).toBe("task-py");
    expect(broker.stats.validateCalls).toBeGreaterThanOrEqual(4);
  });

  it("hybrid mode: local checks first, then the broker's revocation view", async () => {
    broker.resetStats();
    expect(await rejection(hybrid, out.released_token)).toEqual({ code: "token_inactive", status: 401 });
    expect(await rejection(hybrid, out.agent.original_token)).toEqual({ code: "token_inactive", status: 401 });
    const delegated = await hybrid.authenticate(bearer(out.delegated.token));
    expect(delegated.chainHash).toBe(decodePayload(out.delegated.token).chain_hash);
    const calls = broker.stats.validateCalls;
    expect(calls).toBeGreaterThanOrEqual(3);
    // A tampered signature never reaches the broker in hybrid mode.
    expect(await rejection(hybrid, tamper(out.helper.token))).toEqual({ code: "invalid_signature", status: 401 });
    expect(broker.stats.validateCalls).toBe(calls);
    expect(await rejection(local, tamper(out.helper.token))).toEqual({ code: "invalid_signature", status: 401 });
    expect(await rejection(online, tamper(out.helper.token))).toEqual({ code: "token_inactive", status: 401 });
  });

  it("authorize applies Go scope semantics to SDK tokens (403 insufficient_scope)", async () => {
    const helper = await hybrid.authenticate(bearer(out.helper.token));
    hybrid.authorize(helper, "read:data:customers");
    expect(() => {
      hybrid.authorize(helper, "write:data:customers");
    }).toThrow(expect.objectContaining({ code: "insufficient_scope", status: 403 }));
    const delegated = await hybrid.authenticate(bearer(out.delegated.token));
    hybrid.authorize(delegated, "read:data:customers");
    expect(() => {
      hybrid.authorize(delegated, "read:data:orders");
    }).toThrow(expect.objectContaining({ code: "insufficient_scope", status: 403 }));
  });

  it("an expired SDK token (max_ttl=1): token_expired locally and in hybrid, 401 in broker mode", async () => {
    const exp = decodePayload(out.short.token).exp as number;
    expect(out.short.expires_in).toBe(1);
    const wait = (exp + 1) * 1000 + 150 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    expect(await rejection(local, out.short.token)).toEqual({ code: "token_expired", status: 401 });
    expect(await rejection(hybrid, out.short.token)).toEqual({ code: "token_expired", status: 401 });
    // Broker mode may reject from the token's own exp before asking; either way it is a 401.
    const r = await rejection(online, out.short.token);
    expect(r.status).toBe(401);
    expect(["token_expired", "token_inactive"]).toContain(r.code);
    expect((await call(broker, "POST", "/v1/token/validate", { body: { token: out.short.token } })).json.valid).toBe(false);
  });
});
