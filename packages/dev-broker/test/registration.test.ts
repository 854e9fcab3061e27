/** B.5.1, B.5.5, B.5.11, B.5.12; D.5 and D.10 (admin auth, launch tokens). */
import { generateKeyPairSync, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { appToken, call, decodePayload, expectProblem } from "./helpers.js";

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker({ adminSecret: "correct horse" });
});
afterAll(() => broker.close());

async function launchToken(body: Record<string, unknown>, token = broker.adminToken()): Promise<string> {
  const r = await call(broker, "POST", "/v1/admin/launch-tokens", { token, body: { agent_name: "a", ...body } });
  expect(r.status).toBe(201);
  return r.json.launch_token as string;
}

/** A complete, valid registration body; fields can be overridden. */
async function regBody(lt: string, over: Record<string, unknown> = {}, scope: string[] = ["read:data:x"]): Promise<Record<string, unknown>> {
  const nonce = (await call(broker, "GET", "/v1/challenge")).json.nonce as string;
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return {
    launch_token: lt,
    nonce,
    public_key: raw.toString("base64"),
    signature: sign(null, Buffer.from(nonce, "hex"), privateKey).toString("base64"),
    orch_id: "orch",
    task_id: "task",
    requested_scope: scope,
    ...over,
  };
}

describe("GET /v1/challenge (D.34)", () => {
  it("returns a 64-hex nonce and expires_in 30", async () => {
    const r = await call(broker, "GET", "/v1/challenge");
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["nonce", "expires_in"]);
    expect(r.json.nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(r.json.expires_in).toBe(30);
  });
});

describe("POST /v1/admin/auth (B.5.11, D.51)", () => {
  const xff = { "X-Forwarded-For": "admin-auth-tests" };
  it("right secret → 200 with an admin token", async () => {
    const r = await call(broker, "POST", "/v1/admin/auth", { body: { secret: "correct horse" }, headers: xff });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["access_token", "expires_in", "token_type"]);
    expect(r.json.token_type).toBe("Bearer");
    expect(r.json.expires_in).toBe(300);
    const c = decodePayload(r.json.access_token);
    expect(c.sub).toBe("admin");
    expect(c.scope).toEqual(["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"]);
    expect(c.task_id).toBeUndefined();
  });
  it("errors: wrong secret 401, missing 400, legacy shape 400, malformed 400", async () => {
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: { secret: "nope" }, headers: xff }), 401, "unauthorized", "invalid credentials");
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: {}, headers: xff }), 400, "invalid_request", "secret is required");
    const legacy = 'Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret';
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: { client_id: "x", client_secret: "y" }, headers: xff }), 400, "invalid_request", legacy);
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: { secret: "correct horse", client_secret: "y" }, headers: xff }), 400, "invalid_request", legacy);
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: "{bad", headers: xff }), 400, "invalid_request", "malformed JSON body");
  });
  it("reads the whole body: trailing data → 400 malformed JSON body; non-string client_id is ignored (Appendix 3)", async () => {
    // One client IP per request keeps the per-IP rate limit out of the way.
    let n = 0;
    const auth = (body: string) => call(broker, "POST", "/v1/admin/auth", { body, headers: { "X-Forwarded-For": `whole-body-${String(n++)}` } });
    for (const body of ['{"secret":"correct horse"} x', '{"secret":"correct horse"}{}', '{"secret":"correct horse"} {"secret":"x"}']) {
      expectProblem(await auth(body), 400, "invalid_request", "malformed JSON body");
    }
    expect((await auth(' \n{"secret":"correct horse"}\r\n\t ')).status).toBe(200);
    for (const body of ['{"client_id":5}', '{"client_id":{"a":1},"client_secret":false}', '{"client_id":""}']) {
      expectProblem(await auth(body), 400, "invalid_request", "secret is required");
    }
    expect((await auth('{"secret":"correct horse","client_id":7}')).status).toBe(200);
    expectProblem(await auth('{"secret":5}'), 400, "invalid_request", "malformed JSON body");
  });
  it("adminTokenTtl is honoured and clamped", async () => {
    const b = await startDevBroker({ adminTokenTtl: 900, maxTtl: 600 });
    try {
      expect((await call(b, "POST", "/v1/admin/auth", { body: { secret: b.adminSecret } })).json.expires_in).toBe(600);
    } finally {
      await b.close();
    }
  });
});

describe("launch tokens (B.5.12, D.52)", () => {
  it("admin route → 201 with launch_token, expires_at (RFC 3339, seconds) and policy", async () => {
    const r = await call(broker, "POST", "/v1/admin/launch-tokens", { token: broker.adminToken(), body: { agent_name: "x", allowed_scope: ["read:data:*"], max_ttl: 77 } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json)).toEqual(["launch_token", "expires_at", "policy"]);
    expect(r.json.launch_token).toMatch(/^[0-9a-f]{64}$/);
    expect(r.json.expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const ttl = (Date.parse(r.json.expires_at) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(27);
    expect(ttl).toBeLessThanOrEqual(31);
    expect(r.json.policy).toEqual({ allowed_scope: ["read:data:*"], max_ttl: 77 });
    const def = await call(broker, "POST", "/v1/admin/launch-tokens", { token: broker.adminToken(), body: { agent_name: "x", allowed_scope: ["not a scope"] } });
    expect(def.status).toBe(201);
    expect(def.json.policy.max_ttl).toBe(300);
  });

  it("errors: no auth 401, missing agent_name / empty scope 400, malformed 400, wrong scope 403", async () => {
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { body: { agent_name: "x", allowed_scope: ["a:b:c"] } }), 401, "unauthorized", "missing authorization header");
    const t = broker.adminToken();
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { token: t, body: { allowed_scope: ["a:b:c"] } }), 400, "invalid_request", "agent_name is required");
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { token: t, body: { agent_name: "x", allowed_scope: [] } }), 400, "invalid_request", "allowed_scope must not be empty");
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { token: t, body: '{"agent_name":5}' }), 400, "invalid_request", "malformed JSON body");
    const agent = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { token: agent.accessToken, body: { agent_name: "x", allowed_scope: ["a:b:c"] } }), 403, "insufficient_scope", "token lacks required scope: admin:launch-tokens:*");
    expectProblem(await call(broker, "POST", "/v1/app/launch-tokens", { token: t, body: { agent_name: "x", allowed_scope: ["a:b:c"] } }), 403, "insufficient_scope", "token lacks required scope: app:launch-tokens:*");
  });

  it("app route: within the ceiling 201, above it 403 forbidden with the ceiling listed; app tokens cannot use the admin route", async () => {
    const app = await appToken(broker, "ceiling-app", ["read:data:*", "write:data:x"]);
    const ok = await call(broker, "POST", "/v1/app/launch-tokens", { token: app.token, body: { agent_name: "x", allowed_scope: ["read:data:abc", "write:data:x"] } });
    expect(ok.status).toBe(201);
    expectProblem(
      await call(broker, "POST", "/v1/app/launch-tokens", { token: app.token, body: { agent_name: "x", allowed_scope: ["write:data:*"] } }),
      403,
      "forbidden",
      "requested scopes exceed app ceiling; allowed: [read:data:* write:data:x]",
    );
    expectProblem(await call(broker, "POST", "/v1/admin/launch-tokens", { token: app.token, body: { agent_name: "x", allowed_scope: ["read:data:x"] } }), 403, "insufficient_scope", "token lacks required scope: admin:launch-tokens:*");
    const audit = await call(broker, "GET", "/v1/audit/events?event_type=scope_ceiling_exceeded", { token: broker.adminToken() });
    expect(audit.json.total).toBeGreaterThanOrEqual(1);
  });

  it("a deregistered app's unexpired token still mints launch tokens (broker quirk)", async () => {
    const app = await appToken(broker, "gone-app", ["read:data:*"]);
    expect((await call(broker, "DELETE", "/v1/admin/apps/" + app.appId, { token: broker.adminToken() })).status).toBe(200);
    expect((await call(broker, "POST", "/v1/app/launch-tokens", { token: app.token, body: { agent_name: "x", allowed_scope: ["read:data:x"] } })).status).toBe(201);
  });
});

describe("POST /v1/register (B.5.5, D.29–D.33)", () => {
  it("the full flow: 200 with agent_id, access_token, expires_in = max_ttl exactly", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"], max_ttl: 45 });
    const r = await call(broker, "POST", "/v1/register", { body: await regBody(lt) });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["agent_id", "access_token", "expires_in"]);
    expect(r.json.agent_id).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch\/task\/[0-9a-f]{16}$/);
    expect(r.json.expires_in).toBe(45);
    const c = decodePayload(r.json.access_token);
    expect(c.scope).toEqual(["read:data:x"]);
    expect(c.task_id).toBe("task");
    expect(c.orch_id).toBe("orch");
  });

  it("missing fields → 400", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"] });
    for (const f of ["launch_token", "nonce", "public_key", "signature", "orch_id", "task_id"]) {
      expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt, { [f]: "" }) }), 400, "invalid_request", "missing required field");
    }
    expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt, { requested_scope: [] }) }), 400, "invalid_request", "missing required field: requested_scope");
    expectProblem(await call(broker, "POST", "/v1/register", { body: '{"nonce":1}' }), 400, "invalid_request", "malformed JSON body");
  });

  it("launch-token errors: not found, already consumed; multi-use tokens; expired", async () => {
    expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody("f".repeat(64)) }), 401, "unauthorized", "launch token: launch token not found");
    const lt = await launchToken({ allowed_scope: ["read:data:*"] });
    expect((await call(broker, "POST", "/v1/register", { body: await regBody(lt) })).status).toBe(200);
    expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt) }), 401, "unauthorized", "launch token: launch token already consumed");
    const multi = await launchToken({ allowed_scope: ["read:data:*"], single_use: false });
    for (let i = 0; i < 3; i++) expect((await call(broker, "POST", "/v1/register", { body: await regBody(multi) })).status).toBe(200);
  });

  it("an expired launch token (ttl) is refused", async () => {
    let now = 1_800_000_000n * 1_000_000_000n;
    const b = await startDevBroker({ now: () => now });
    try {
      const r = await call(b, "POST", "/v1/admin/launch-tokens", { token: b.adminToken(), body: { agent_name: "x", allowed_scope: ["a:b:c"], ttl: 5 } });
      const nonce = (await call(b, "GET", "/v1/challenge")).json.nonce as string;
      now += 6n * 1_000_000_000n;
      expectProblem(
        await call(b, "POST", "/v1/register", { body: { launch_token: r.json.launch_token, nonce, public_key: "x", signature: "y", orch_id: "o", task_id: "t", requested_scope: ["a:b:c"] } }),
        401,
        "unauthorized",
        "launch token: launch token expired",
      );
    } finally {
      await b.close();
    }
  });

  it("scope wider than the launch token → 403 scope_violation, and the launch token and nonce are not consumed (D.31)", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"] });
    const body = await regBody(lt, {}, ["write:data:x"]);
    expectProblem(await call(broker, "POST", "/v1/register", { body }), 403, "scope_violation", "requested scope exceeds allowed scope");
    expect((await call(broker, "POST", "/v1/register", { body: { ...body, requested_scope: ["read:data:x"] } })).status).toBe(200);
    const lt2 = await launchToken({ allowed_scope: ["read::x"] });
    const bad = await regBody(lt2, {}, ["read::x"]);
    expectProblem(await call(broker, "POST", "/v1/register", { body: bad }), 403, "scope_violation", "requested scope exceeds allowed scope");
  });

  it("nonce errors: unknown, replayed (D.30)", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"], single_use: false });
    expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt, { nonce: "ab".repeat(32) }) }), 401, "unauthorized", "nonce: nonce not found or expired");
    const body = await regBody(lt);
    expect((await call(broker, "POST", "/v1/register", { body })).status).toBe(200);
    expectProblem(await call(broker, "POST", "/v1/register", { body }), 401, "unauthorized", "nonce: nonce already consumed");
  });

  it("an expired nonce (30 s) is refused", async () => {
    let now = 1_800_000_000n * 1_000_000_000n;
    const b = await startDevBroker({ now: () => now });
    try {
      const lt = (await call(b, "POST", "/v1/admin/launch-tokens", { token: b.adminToken(), body: { agent_name: "x", allowed_scope: ["a:b:c"], ttl: 600 } })).json.launch_token;
      const nonce = (await call(b, "GET", "/v1/challenge")).json.nonce as string;
      now += 31n * 1_000_000_000n;
      expectProblem(
        await call(b, "POST", "/v1/register", { body: { launch_token: lt, nonce, public_key: "x", signature: "y", orch_id: "o", task_id: "t", requested_scope: ["a:b:c"] } }),
        401,
        "unauthorized",
        "nonce: nonce not found or expired",
      );
    } finally {
      await b.close();
    }
  });

  it("key and signature errors (D.32)", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"], single_use: false });
    const cases: [Record<string, unknown>, string][] = [
      [{ public_key: "%%%" }, "invalid Ed25519 public key: base64 decode failed"],
      [{ public_key: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }, "invalid Ed25519 public key: base64 decode failed"],
      [{ public_key: Buffer.alloc(31).toString("base64") }, "invalid Ed25519 public key: wrong key size"],
      [{ signature: "not base64!" }, "nonce signature verification failed: base64 decode failed"],
      [{ signature: Buffer.alloc(64).toString("base64") }, "nonce signature verification failed"],
    ];
    for (const [over, detail] of cases) {
      expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt, over) }), 401, "unauthorized", detail);
    }
    // Signing the nonce's ASCII text instead of its hex-decoded bytes fails.
    const body = await regBody(lt);
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    body.public_key = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url").toString("base64");
    body.signature = sign(null, Buffer.from(body.nonce as string, "utf8"), privateKey).toString("base64");
    expectProblem(await call(broker, "POST", "/v1/register", { body }), 401, "unauthorized", "nonce signature verification failed");
  });

  it("an invalid SPIFFE segment → 500 registration failed, after consuming nonce and launch token", async () => {
    const lt = await launchToken({ allowed_scope: ["read:data:*"] });
    const body = await regBody(lt, { task_id: "bad/segment" });
    expectProblem(await call(broker, "POST", "/v1/register", { body }), 500, "internal_error", "registration failed");
    expectProblem(await call(broker, "POST", "/v1/register", { body: await regBody(lt) }), 401, "unauthorized", "launch token: launch token already consumed");
  });

  it("an invalid trust domain makes every registration fail with 500", async () => {
    const b = await startDevBroker({ trustDomain: "Upper.Case" });
    try {
      await expect(b.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"] })).rejects.toMatchObject({ status: 500 });
    } finally {
      await b.close();
    }
  });

  it("a custom trust domain appears in the SPIFFE ID", async () => {
    const b = await startDevBroker({ trustDomain: "example.org" });
    try {
      expect((await b.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"] })).agentId).toMatch(/^spiffe:\/\/example\.org\/agent\/o\/t\/[0-9a-f]{16}$/);
    } finally {
      await b.close();
    }
  });
});
