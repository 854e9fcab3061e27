/** B.5.2, B.5.3, B.5.10: health, metrics and the hash-chained audit log. */
import { createHash } from "node:crypto";
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
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
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
    expect((await call(broker, "GET", "/v1/audit/events?since=2999-01-01T00:00:00Z", { token: t })).json.total).toBe(0);
    expect((await call(broker, "GET", "/v1/audit/events?until=2000-01-01T00:00:00Z", { token: t })).json.total).toBe(0);
    expect((await call(broker, "GET", "/v1/audit/events?since=garbage", { token: t })).json.total).toBeGreaterThanOrEqual(all.total);
    expectProblem(await call(broker, "GET", "/v1/audit/events"), 401, "unauthorized", "missing authorization header");
  });
});
