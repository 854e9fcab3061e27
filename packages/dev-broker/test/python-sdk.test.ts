/**
 * Interop with the official Python SDK (agentwrit==0.3.0): the SDK's own calls against the dev
 * broker, asserting on what it observed and on the tokens it obtained.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodePayload, type Json } from "./helpers.js";
import { announceSkip, assertPython, runSdkFlow, skipPython } from "./python.js";

announceSkip("python-sdk interop");

describe.skipIf(skipPython)("Python SDK agentwrit 0.3.0 against the dev broker", () => {
  let broker: DevBroker;
  let out: Json;
  let appId: string;

  beforeAll(async () => {
    assertPython();
    broker = await startDevBroker();
    const app = await broker.registerApp({ name: "py-sdk-app", scopes: ["read:data:*", "write:data:*"] });
    appId = app.appId;
    broker.resetStats();
    out = await runSdkFlow(broker, app.clientId, app.clientSecret);
  }, 90_000);
  afterAll(() => broker.close());

  it("is the pinned SDK version and reads health", () => {
    expect(out.sdk_version).toBe("0.3.0");
    expect(out.health).toEqual({ status: "ok", version: "2.0.0", db_connected: true });
  });

  it("create_agent registers an agent whose token validates with the SDK's claims model", () => {
    expect(out.agent.agent_id).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch-py\/task-py\/[0-9a-f]{16}$/);
    expect(out.agent.expires_in).toBe(600);
    expect(out.validate_original.valid).toBe(true);
    const c = out.validate_original.claims;
    expect(c).toMatchObject({ iss: "", sub: out.agent.agent_id, aud: [], scope: ["read:data:*", "write:data:report"], task_id: "task-py", orch_id: "orch-py", sid: null, chain_hash: null, delegation_chain: null });
    expect(c.exp - c.iat).toBe(600);
    expect(decodePayload(out.agent.original_token).jti).toBe(c.jti);
  });

  it("renew replaces the token, keeps the TTL, and revokes the predecessor", () => {
    expect(out.renewed.changed).toBe(true);
    expect(out.renewed.expires_in).toBe(600);
    expect(out.validate_original_after_renew).toEqual({ valid: false, error: "token is invalid or expired", claims: null });
    expect(out.validate_renewed.valid).toBe(true);
    expect(out.validate_renewed.claims.sub).toBe(out.agent.agent_id);
  });

  it("delegate to a second agent: the SDK sees the chain (signatures dropped) and validate sees the delegator's task", () => {
    expect(out.delegated.expires_in).toBe(120);
    expect(out.delegated.chain).toEqual([{ agent: out.agent.agent_id, scope: ["read:data:*", "write:data:report"], delegated_at: expect.stringMatching(/Z$/) }]);
    const c = out.validate_delegated.claims;
    expect(out.validate_delegated.valid).toBe(true);
    expect(c.sub).toBe(out.helper.agent_id);
    expect(c.scope).toEqual(["read:data:customers"]);
    expect(c.task_id).toBe("task-py");
    expect(c.chain_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(c.delegation_chain).toEqual(out.delegated.chain);
    expect(out.delegate_wider_error).toMatchObject({ class: "AuthorizationError", status_code: 403, error_code: "scope_violation" });
  });

  it("release: 204 then the token validates as invalid; renew after release is refused locally", () => {
    expect(out.validate_after_release).toEqual({ valid: false, error: "token is invalid or expired", claims: null });
    expect(out.renew_after_release_error).toEqual({ class: "AgentWritError", message: "agent has been released and cannot be renewed" });
  });

  it("SDK error classes: scope above the app ceiling → AuthorizationError 403; bad credentials → AuthenticationError 401", () => {
    expect(out.ceiling_error).toMatchObject({
      class: "AuthorizationError",
      status_code: 403,
      error_code: "forbidden",
      detail: "requested scopes exceed app ceiling; allowed: [read:data:* write:data:*]",
      message: "Forbidden: requested scopes exceed app ceiling; allowed: [read:data:* write:data:*]",
    });
    expect(out.bad_credentials_error).toMatchObject({ class: "AuthenticationError", status_code: 401, error_code: "unauthorized", detail: "Authentication failed" });
    expect(out.validate_garbage).toEqual({ valid: false, error: "token is invalid or expired", claims: null });
  });

  it("the broker saw the SDK's calls (validate counted, app launch tokens tied to the app)", async () => {
    expect(broker.stats.validateCalls).toBe(6);
    const ev = await call(broker, "GET", "/v1/audit/events?event_type=app_authenticated", { token: broker.adminToken() });
    expect(ev.json.total).toBe(1);
    // As the broker writes it: no agent_id on app events; the app is named in the detail.
    expect(ev.json.events[0].agent_id).toBeUndefined();
    expect(ev.json.events[0].detail).toContain(appId);
    for (const t of [out.renewed.token, out.helper.token, out.delegated.token]) {
      expect((await call(broker, "POST", "/v1/token/validate", { body: { token: t } })).json.valid).toBe(t !== out.renewed.token);
    }
  });
});
