/** B.5.13, B.5.14 and D.53: app management and app authentication. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodePayload, expectProblem } from "./helpers.js";

let broker: DevBroker;
let admin: string;
beforeAll(async () => {
  broker = await startDevBroker({ appTokenTtl: 1234 });
  admin = broker.adminToken();
});
afterAll(() => broker.close());

const post = (body: unknown) => call(broker, "POST", "/v1/admin/apps", { token: admin, body });
let xff = 0;
const appAuth = (client_id: string, client_secret: string) =>
  call(broker, "POST", "/v1/app/auth", { body: { client_id, client_secret }, headers: { "X-Forwarded-For": `10.1.1.${String(++xff)}` } });

describe("POST /v1/admin/apps", () => {
  it("201 with the broker's exact shape (name and status empty, secret shown once)", async () => {
    const r = await post({ name: "weather-bot", scopes: ["read:weather:*"] });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json)).toEqual(["app_id", "name", "client_id", "client_secret", "scopes", "token_ttl", "status"]);
    expect(r.json.app_id).toMatch(/^app-weather-bot-[0-9a-f]{6}$/);
    expect(r.json.name).toBe("");
    expect(r.json.status).toBe("");
    expect(r.json.client_id).toMatch(/^[a-z0-9]+-[0-9a-f]{12}$/);
    expect(r.json.client_secret).toMatch(/^[0-9a-f]{64}$/);
    expect(r.json.scopes).toEqual(["read:weather:*"]);
    expect(r.json.token_ttl).toBe(1234);
  });

  it("validation errors (D.53)", async () => {
    expectProblem(await post({ scopes: ["a:b:c"] }), 400, "invalid_request", "name is required");
    expectProblem(await post({ name: "ok-name" }), 400, "invalid_request", "scopes must not be empty");
    for (const name of ["Upper", "a", "1abc", "a--b", "a-", "a_b", "x".repeat(65)]) {
      expectProblem(await post({ name, scopes: ["a:b:c"] }), 400, "invalid_request", "invalid app name: must be lowercase letters, digits, and hyphens");
    }
    expectProblem(await post({ name: "scopey", scopes: ["a:b:c", "read::x"] }), 400, "invalid_request", "invalid scope format: use action:resource:identifier");
    for (const ttl of [0, -5, 59, 86401]) {
      expectProblem(await post({ name: "ttl-app", scopes: ["a:b:c"], token_ttl: ttl }), 400, "invalid_ttl", `invalid token TTL: must be between 60 and 86400 seconds, got ${String(ttl)}`);
    }
    expectProblem(await post('{"name":["x"]}'), 400, "invalid_request", "malformed JSON body");
    expect((await post({ name: "x".repeat(64), scopes: ["a:b:c"], token_ttl: 86400 })).status).toBe(201);
  });

  it("a duplicate name → 500 failed to register app (no 409)", async () => {
    expect((await post({ name: "dup-app", scopes: ["a:b:c"] })).status).toBe(201);
    expectProblem(await post({ name: "dup-app", scopes: ["a:b:c"] }), 500, "internal_error", "failed to register app");
  });
});

describe("list, get, update, deregister", () => {
  it("list is newest first, never shows a secret; get works; unknown id → 404", async () => {
    const a = (await post({ name: "list-one", scopes: ["a:b:c"] })).json;
    const b = (await post({ name: "list-two", scopes: ["a:b:*"], token_ttl: 600 })).json;
    const l = await call(broker, "GET", "/v1/admin/apps", { token: admin });
    expect(l.status).toBe(200);
    expect(Object.keys(l.json)).toEqual(["apps", "total"]);
    expect(l.json.total).toBe(l.json.apps.length);
    const ids = l.json.apps.map((x: { app_id: string }) => x.app_id);
    expect(ids.indexOf(b.app_id)).toBeLessThan(ids.indexOf(a.app_id));
    expect(l.text).not.toContain("secret");
    const g = await call(broker, "GET", "/v1/admin/apps/" + String(b.app_id), { token: admin });
    expect(Object.keys(g.json)).toEqual(["app_id", "name", "client_id", "scopes", "token_ttl", "status", "created_at", "updated_at"]);
    expect(g.json).toMatchObject({ app_id: b.app_id, name: "list-two", client_id: b.client_id, scopes: ["a:b:*"], token_ttl: 600, status: "active" });
    expect(g.json.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expectProblem(await call(broker, "GET", "/v1/admin/apps/app-nope-000000", { token: admin }), 404, "not_found", "app not found");
  });

  it("PUT updates scopes and TTL; errors; a refused update changes nothing", async () => {
    const a = (await post({ name: "upd-app", scopes: ["a:b:c"] })).json;
    const path = "/v1/admin/apps/" + String(a.app_id);
    const r = await call(broker, "PUT", path, { token: admin, body: { scopes: ["x:y:*"], token_ttl: 900 } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ scopes: ["x:y:*"], token_ttl: 900, status: "active" });
    expectProblem(await call(broker, "PUT", path, { token: admin, body: {} }), 400, "invalid_request", "at least one of scopes or token_ttl must be provided");
    expectProblem(await call(broker, "PUT", path, { token: admin, body: { scopes: ["bad"] } }), 400, "invalid_request", "invalid scope format: use action:resource:identifier");
    expectProblem(await call(broker, "PUT", path, { token: admin, body: { scopes: ["q:r:s"], token_ttl: 5 } }), 400, "invalid_ttl", "invalid token TTL: must be between 60 and 86400 seconds, got 5");
    expect((await call(broker, "GET", path, { token: admin })).json).toMatchObject({ scopes: ["x:y:*"], token_ttl: 900 });
    expectProblem(await call(broker, "PUT", "/v1/admin/apps/app-nope", { token: admin, body: { token_ttl: 100 } }), 404, "not_found", "app not found");
  });

  it("PUT checks token_ttl before looking the app up: out of range on an unknown app → 400 invalid_ttl, not 404 (Appendix 3)", async () => {
    for (const ttl of [0, -1, 59, 86401]) {
      expectProblem(await call(broker, "PUT", "/v1/admin/apps/app-nope", { token: admin, body: { token_ttl: ttl } }), 400, "invalid_ttl", `invalid token TTL: must be between 60 and 86400 seconds, got ${String(ttl)}`);
    }
    expectProblem(await call(broker, "PUT", "/v1/admin/apps/app-nope", { token: admin, body: { scopes: ["bad"] } }), 400, "invalid_request", "invalid scope format: use action:resource:identifier");
    expectProblem(await call(broker, "PUT", "/v1/admin/apps/app-nope", { token: admin, body: { scopes: ["a:b:c"], token_ttl: 60 } }), 404, "not_found", "app not found");
  });

  it("DELETE: soft delete with the broker's empty fields; again → 200; unknown → 404; app auth then 401", async () => {
    const a = (await post({ name: "del-app", scopes: ["a:b:c"] })).json;
    const path = "/v1/admin/apps/" + String(a.app_id);
    const d = await call(broker, "DELETE", path, { token: admin });
    expect(d.status).toBe(200);
    expect(Object.keys(d.json)).toEqual(["app_id", "name", "client_id", "scopes", "token_ttl", "status", "deregistered_at"]);
    expect(d.json).toMatchObject({ app_id: a.app_id, name: "", client_id: "", scopes: null, token_ttl: 0, status: "inactive" });
    expect((await call(broker, "DELETE", path, { token: admin })).status).toBe(200);
    expect((await call(broker, "GET", path, { token: admin })).json.status).toBe("inactive");
    expectProblem(await call(broker, "DELETE", "/v1/admin/apps/app-nope", { token: admin }), 404, "not_found", "app not found");
    expectProblem(await appAuth(a.client_id, a.client_secret), 401, "unauthorized", "Authentication failed");
  });

  it("app routes need admin:launch-tokens:*", async () => {
    const agent = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    expectProblem(await call(broker, "GET", "/v1/admin/apps", { token: agent.accessToken }), 403, "insufficient_scope", "token lacks required scope: admin:launch-tokens:*");
  });
});

describe("POST /v1/app/auth", () => {
  it("200 with the app token: sub app:<id>, fixed scopes, the app's TTL", async () => {
    const a = (await post({ name: "auth-app", scopes: ["read:data:*"], token_ttl: 120 })).json;
    const r = await appAuth(a.client_id, a.client_secret);
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["access_token", "expires_in", "token_type", "scopes"]);
    expect(r.json).toMatchObject({ expires_in: 120, token_type: "Bearer", scopes: ["app:launch-tokens:*", "app:agents:*", "app:audit:read"] });
    const c = decodePayload(r.json.access_token);
    expect(c.sub).toBe("app:" + String(a.app_id));
    expect(c.scope).toEqual(["app:launch-tokens:*", "app:agents:*", "app:audit:read"]);
    expect((await call(broker, "POST", "/v1/token/validate", { body: { token: r.json.access_token } })).json.valid).toBe(true);
  });

  it("errors: wrong secret, unknown id → 401 with the same text; missing fields → 400; malformed → 400", async () => {
    const a = (await post({ name: "auth-app-2", scopes: ["read:data:*"] })).json;
    expectProblem(await appAuth(a.client_id, "0".repeat(64)), 401, "unauthorized", "Authentication failed");
    expectProblem(await appAuth("nope-000000000000", a.client_secret), 401, "unauthorized", "Authentication failed");
    expectProblem(await appAuth(a.client_id, ""), 400, "invalid_request", "client_id and client_secret are required");
    expectProblem(await call(broker, "POST", "/v1/app/auth", { body: "{", headers: { "X-Forwarded-For": "malformed-1" } }), 400, "invalid_request", "malformed JSON body");
  });
});

describe("store contention, as the real broker answers it (Appendix 3), through the busy hook", () => {
  it("app auth → 500 authentication error, app launch token → 403 app not found, app register → 500; each succeeds once not busy", async () => {
    const busy = new Set<string>();
    const seen: string[] = [];
    const b = await startDevBroker({
      busy: (op) => {
        seen.push(op);
        return busy.has(op);
      },
    });
    try {
      const adminToken = b.adminToken();
      busy.add("app_register");
      expectProblem(await call(b, "POST", "/v1/admin/apps", { token: adminToken, body: { name: "busy-app", scopes: ["read:data:*"] } }), 500, "internal_error", "failed to register app");
      expect((await call(b, "GET", "/v1/admin/apps", { token: adminToken })).json.total).toBe(0);
      busy.clear();
      const app = (await call(b, "POST", "/v1/admin/apps", { token: adminToken, body: { name: "busy-app", scopes: ["read:data:*"] } })).json;
      const creds = { client_id: app.client_id, client_secret: app.client_secret };

      busy.add("app_auth");
      expectProblem(await call(b, "POST", "/v1/app/auth", { body: creds }), 500, "internal_error", "authentication error");
      busy.clear();
      const token = (await call(b, "POST", "/v1/app/auth", { body: creds })).json.access_token as string;

      const lt = { agent_name: "x", allowed_scope: ["read:data:x"] };
      busy.add("app_launch_token");
      expectProblem(await call(b, "POST", "/v1/app/launch-tokens", { token, body: lt }), 403, "forbidden", "app not found");
      // The admin route never looks an app up, so contention cannot touch it.
      expect((await call(b, "POST", "/v1/admin/launch-tokens", { token: adminToken, body: lt })).status).toBe(201);
      busy.clear();
      expect((await call(b, "POST", "/v1/app/launch-tokens", { token, body: lt })).status).toBe(201);
      expect(new Set(seen)).toEqual(new Set(["app_register", "app_auth", "app_launch_token"]));
    } finally {
      await b.close();
    }
  });
});
