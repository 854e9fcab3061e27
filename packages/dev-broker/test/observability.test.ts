/** B.5.2, B.5.3, B.5.10: health, metrics and the hash-chained audit log. */
import { createHash, generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, expectProblem } from "./helpers.js";

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker();
});
afterAll(() => broker.close());

describe("GET /v1/health", () => {
  it("always 200 with the broker's shape and no public key", async () => {
    const r = await call(broker, "GET", "/v1/health");
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["status", "version", "uptime", "db_connected", "audit_events_count"]);
    expect(r.json).toMatchObject({ status: "ok", version: "2.0.0", db_connected: true });
    expect(Number.isInteger(r.json.uptime)).toBe(true);
    expect(r.text).not.toContain("BEGIN");
  });
});

describe("GET /v1/metrics", () => {
  it("Prometheus text with every family the broker defines", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    await broker.release(a.accessToken);
    await call(broker, "POST", "/v1/admin/auth", { body: { secret: "wrong" }, headers: { "X-Forwarded-For": "metrics" } });
    const r = await call(broker, "GET", "/v1/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8; escaping=underscores");
    for (const family of [
      "agentwrit_tokens_issued_total",
      "agentwrit_tokens_revoked_total",
      "agentwrit_registrations_total",
      "agentwrit_admin_auth_total",
      "agentwrit_launch_tokens_created_total",
      "agentwrit_active_agents",
      "agentwrit_request_duration_seconds",
      "agentwrit_clock_skew_total",
      "agentwrit_audit_events_total",
      "agentwrit_audit_write_duration_seconds",
      "agentwrit_db_errors_total",
      "agentwrit_audit_events_loaded",
    ]) {
      expect(r.text).toContain(`# TYPE ${family} `);
    }
    expect(r.text).toMatch(/^agentwrit_tokens_issued_total\{scope="read:data:\*"\} [1-9]/m);
    expect(r.text).toMatch(/^agentwrit_tokens_revoked_total\{level="release"\} 1$/m);
    expect(r.text).toMatch(/^agentwrit_registrations_total\{status="success"\} 1$/m);
    expect(r.text).toMatch(/^agentwrit_admin_auth_total\{status="failure"\} 1$/m);
    expect(r.text).toMatch(/^agentwrit_launch_tokens_created_total 1$/m);
    expect(r.text).toMatch(/^agentwrit_active_agents 1$/m);
    expect(r.text).toMatch(/^agentwrit_audit_events_total\{event_type="agent_registered"\} 1$/m);
    expect(r.text).toMatch(/^agentwrit_audit_write_duration_seconds_count \d+$/m);
    expect(r.text).toMatch(/^process_start_time_seconds \d+$/m);
    expect(r.text.endsWith("\n")).toBe(true);
  });
});

describe("tokens_revoked_total counts explicit revocations only (Appendix 3)", () => {
  it("renew's revocation of the old token is not counted; revoke and release are", async () => {
    const b = await startDevBroker();
    try {
      const revoked = async (level: string): Promise<number> => {
        const text = (await call(b, "GET", "/v1/metrics")).text;
        return Number(new RegExp(`^agentwrit_tokens_revoked_total\\{level="${level}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
      };
      const a = await b.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      const renewed = await b.renew(a.accessToken);
      await b.renew(renewed.accessToken);
      expect(await revoked("token")).toBe(0);
      expect((await call(b, "POST", "/v1/token/validate", { body: { token: a.accessToken } })).json.valid).toBe(false);
      await b.revoke("token", "0123456789abcdef0123456789abcdef");
      expect(await revoked("token")).toBe(1);
      const c = await b.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      await b.release(c.accessToken);
      expect(await revoked("token")).toBe(1);
      expect(await revoked("release")).toBe(1);
    } finally {
      await b.close();
    }
  });
});

describe("GET /v1/audit/events", () => {
  it("events are hash-chained over the documented input; genesis prev_hash is 64 zeros", async () => {
    const r = await call(broker, "GET", "/v1/audit/events?limit=1000", { token: broker.adminToken() });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["events", "total", "offset", "limit"]);
    const events = r.json.events as Record<string, unknown>[];
    expect(events.length).toBeGreaterThan(3);
    expect(events[0]!.prev_hash).toBe("0".repeat(64));
    expect(events[0]!.id).toBe("evt-000001");
    let prev = "0".repeat(64);
    for (const e of events) {
      expect(e.prev_hash).toBe(prev);
      expect(e.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/);
      const input = [e.prev_hash, e.id, e.timestamp, e.event_type, e.agent_id ?? "", e.task_id ?? "", e.orch_id ?? "", e.detail, e.resource ?? "", e.outcome ?? "", e.deleg_depth ?? 0, e.deleg_chain_hash ?? "", e.bytes_transferred ?? 0].join("|");
      expect(e.hash).toBe(createHash("sha256").update(input).digest("hex"));
      for (const [k, v] of Object.entries(e)) expect(v, k).not.toBe("");
      prev = e.hash as string;
    }
    expect(JSON.stringify(events)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // never a token
  });

  it("filters, since/until, paging; limit echoes the request (100 when ≤ 0), capped at 1000", async () => {
    const t = broker.adminToken();
    const all = (await call(broker, "GET", "/v1/audit/events", { token: t })).json;
    expect(all.limit).toBe(100);
    expect(all.offset).toBe(0);
    const reg = (await call(broker, "GET", "/v1/audit/events?event_type=agent_registered&outcome=success", { token: t })).json;
    expect(reg.total).toBe(1);
    expect(reg.events[0].event_type).toBe("agent_registered");
    const byTask = (await call(broker, "GET", "/v1/audit/events?task_id=t", { token: t })).json;
    expect(byTask.events.every((e: { task_id: string }) => e.task_id === "t")).toBe(true);
    const page = (await call(broker, "GET", "/v1/audit/events?limit=2&offset=1", { token: t })).json;
    expect(page.events).toHaveLength(2);
    expect(page.events[0].id).toBe("evt-000002");
    expect(page).toMatchObject({ total: all.total, offset: 1, limit: 2 });
    expect((await call(broker, "GET", "/v1/audit/events?limit=5000", { token: t })).json.limit).toBe(5000);
    expect((await call(broker, "GET", "/v1/audit/events?limit=-3", { token: t })).json.limit).toBe(100);
    // A negative offset is echoed as given (Appendix 3) and pages from the first event.
    const negative = (await call(broker, "GET", "/v1/audit/events?offset=-3&limit=2", { token: t })).json;
    expect(negative).toMatchObject({ offset: -3, limit: 2, total: all.total });
    expect(negative.events[0].id).toBe("evt-000001");
    const past = (all.total as number) + 5;
    const beyond = (await call(broker, "GET", `/v1/audit/events?offset=${String(past)}`, { token: t })).json;
    expect(beyond).toMatchObject({ events: [], offset: past, total: all.total });
    expect((await call(broker, "GET", "/v1/audit/events?offset=abc", { token: t })).json.offset).toBe(0);
    expect((await call(broker, "GET", "/v1/audit/events?since=2999-01-01T00:00:00Z", { token: t })).json.total).toBe(0);
    expect((await call(broker, "GET", "/v1/audit/events?until=2000-01-01T00:00:00Z", { token: t })).json.total).toBe(0);
    expect((await call(broker, "GET", "/v1/audit/events?since=garbage", { token: t })).json.total).toBeGreaterThanOrEqual(all.total);
    expectProblem(await call(broker, "GET", "/v1/audit/events"), 401, "unauthorized", "missing authorization header");
  });
});

describe("what each audit event records (Appendix 3)", () => {
  let b: DevBroker;
  beforeAll(async () => {
    b = await startDevBroker();
  });
  afterAll(() => b.close());

  type Event = Record<string, unknown>;
  /** The events recorded since `mark` (an event count). */
  async function eventsSince(mark: number): Promise<Event[]> {
    const r = await call(b, "GET", "/v1/audit/events?limit=1000", { token: b.adminToken() });
    return (r.json.events as Event[]).slice(mark);
  }
  const count = async (): Promise<number> => (await call(b, "GET", "/v1/audit/events?limit=1", { token: b.adminToken() })).json.total as number;
  const ofType = (events: Event[], type: string): Event[] => events.filter((e) => e.event_type === type);

  it("admin_auth, launch_token_issued and app_* events carry no agent_id", async () => {
    const mark = await count();
    expect((await call(b, "POST", "/v1/admin/auth", { body: { secret: b.adminSecret } })).status).toBe(200);
    await b.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    const app = await b.registerApp({ name: "audit-app", scopes: ["read:data:*"] });
    const auth = await call(b, "POST", "/v1/app/auth", { body: { client_id: app.clientId, client_secret: app.clientSecret } });
    expect(auth.status).toBe(200);
    expect((await call(b, "POST", "/v1/app/launch-tokens", { token: auth.json.access_token, body: { agent_name: "x", allowed_scope: ["read:data:x"] } })).status).toBe(201);
    expect((await call(b, "POST", "/v1/app/auth", { body: { client_id: app.clientId, client_secret: "wrong" } })).status).toBe(401);
    expect((await call(b, "PUT", "/v1/admin/apps/" + app.appId, { token: b.adminToken(), body: { token_ttl: 600 } })).status).toBe(200);
    expect((await call(b, "DELETE", "/v1/admin/apps/" + app.appId, { token: b.adminToken() })).status).toBe(200);
    const events = await eventsSince(mark);
    const types = ["admin_auth", "launch_token_issued", "app_registered", "app_authenticated", "app_auth_failed", "app_updated", "app_deregistered"];
    for (const type of types) {
      const found = ofType(events, type);
      expect(found.length, type).toBeGreaterThan(0);
      for (const e of found) expect(e.agent_id, type).toBeUndefined();
    }
    expect(ofType(events, "launch_token_issued")).toHaveLength(2);
  });

  it("a launch-token request refused with 400 records launch_token_denied, on the admin and the app route", async () => {
    const mark = await count();
    const admin = b.adminToken();
    const app = await b.registerApp({ name: "denied-app", scopes: ["read:data:*"] });
    const appTok = (await call(b, "POST", "/v1/app/auth", { body: { client_id: app.clientId, client_secret: app.clientSecret } })).json.access_token as string;
    const refused: [string, string, unknown, string][] = [
      ["/v1/admin/launch-tokens", admin, { allowed_scope: ["a:b:c"] }, "agent_name is required"],
      ["/v1/admin/launch-tokens", admin, { agent_name: "x", allowed_scope: [] }, "allowed_scope must not be empty"],
      ["/v1/admin/launch-tokens", admin, "{bad", "malformed JSON body"],
      ["/v1/app/launch-tokens", appTok, { allowed_scope: ["read:data:x"] }, "agent_name is required"],
      ["/v1/app/launch-tokens", appTok, '{"agent_name":"x","allowed_scope":"read:data:x"}', "malformed JSON body"],
    ];
    for (const [path, token, body, detail] of refused) expectProblem(await call(b, "POST", path, { token, body }), 400, "invalid_request", detail);
    // A 403 above the app's ceiling is a scope_ceiling_exceeded event, not launch_token_denied.
    expect((await call(b, "POST", "/v1/app/launch-tokens", { token: appTok, body: { agent_name: "x", allowed_scope: ["write:data:x"] } })).status).toBe(403);
    const denied = ofType(await eventsSince(mark), "launch_token_denied");
    expect(denied).toHaveLength(refused.length);
    for (const e of denied) {
      expect(e.outcome).toBe("denied");
      expect(e.agent_id).toBeUndefined();
    }
  });

  it("token_revoked records the revocation target as agent_id, at every level", async () => {
    const mark = await count();
    const a = await b.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    const targets: [string, string][] = [
      ["token", "0123456789abcdef0123456789abcdef"],
      ["agent", a.agentId],
      ["task", "task-77"],
      ["chain", "any text at all"],
    ];
    for (const [level, target] of targets) await b.revoke(level as "token", target);
    const revoked = ofType(await eventsSince(mark), "token_revoked");
    expect(revoked.map((e) => e.agent_id)).toEqual(targets.map((t) => t[1]));
  });

  it("delegation_created records the delegate; delegation_attenuation_violation carries deleg_depth", async () => {
    const mark = await count();
    const a = await b.createAgent({ orchId: "orch-d", taskId: "task-d", scope: ["read:data:*", "write:data:x"] });
    const c = await b.createAgent({ orchId: "orch-d", taskId: "task-c", scope: ["read:data:*"] });
    const d = await b.delegate(a.accessToken, { delegateTo: c.agentId, scope: ["read:data:*"] });
    expect((await call(b, "POST", "/v1/delegate", { token: a.accessToken, body: { delegate_to: c.agentId, scope: ["admin:revoke:*"] } })).status).toBe(403);
    expect((await call(b, "POST", "/v1/delegate", { token: d.accessToken, body: { delegate_to: a.agentId, scope: ["write:data:x"] } })).status).toBe(403);
    const events = await eventsSince(mark);
    const created = ofType(events, "delegation_created");
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ agent_id: c.agentId, task_id: "task-d", orch_id: "orch-d", deleg_depth: 1, outcome: "success" });
    const violations = ofType(events, "delegation_attenuation_violation");
    expect(violations).toHaveLength(2);
    expect(violations[0]).toMatchObject({ agent_id: a.agentId, task_id: "task-d", orch_id: "orch-d", deleg_depth: 1, outcome: "denied" });
    expect(violations[1]).toMatchObject({ agent_id: c.agentId, deleg_depth: 2, outcome: "denied" });
  });

  it("token_auth_failed for an audience mismatch carries the token's sub, task_id and orch_id; other failures none", async () => {
    const sharedKey = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const issuer = await startDevBroker({ signingKey: sharedKey });
    const strict = await startDevBroker({ signingKey: sharedKey, audience: "svc-x" });
    try {
      const a = await issuer.createAgent({ orchId: "orch-aud", taskId: "task-aud", scope: ["read:data:*"] });
      expectProblem(await call(strict, "POST", "/v1/token/renew", { token: a.accessToken }), 401, "unauthorized", "token audience mismatch");
      expectProblem(await call(strict, "POST", "/v1/token/renew", { token: "garbage" }), 401, "unauthorized", "token verification failed");
      const r = await call(strict, "GET", "/v1/audit/events?event_type=token_auth_failed", { token: strict.adminToken() });
      const [aud, garbage] = r.json.events as Event[];
      expect(aud).toMatchObject({ agent_id: a.agentId, task_id: "task-aud", orch_id: "orch-aud", detail: "token audience mismatch", resource: "/v1/token/renew", outcome: "denied" });
      expect(garbage).toMatchObject({ detail: "token verification failed", outcome: "denied" });
      expect(garbage!.agent_id).toBeUndefined();
      expect(garbage!.task_id).toBeUndefined();
    } finally {
      await Promise.all([issuer.close(), strict.close()]);
    }
  });
});
