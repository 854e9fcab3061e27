/**
 * Parity with the Python SDK (protocol Part C) against the real dev broker: lazy app
 * authentication, the call order and request bodies, the Agent's renew/release/delegate, validate
 * and health, the error hierarchy, and what Part C says the SDK gets wrong.
 */
import { inspect } from "node:util";
import {
  AgentWritApp,
  AgentWritError,
  AuthenticationError,
  AuthorizationError,
  CLIENT_VERSION,
  CryptoError,
  DelegatedToken,
  ProblemResponseError,
  RateLimitError,
  TransportError,
  delegateToken,
  registerAgent,
  releaseToken,
  renewToken,
  scopeIsSubset,
  validate,

} from "@agentwrit/client";
import { startDevBroker, type DevBroker, type RegisteredApp } from "@agentwrit/dev-broker";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { closedPortUrl, forwardTo, silentBroker, standIn } from "../support/servers.js";
import { listen, payload, readBody, recordingFetch } from "./support.js";

let broker: DevBroker;
let app: RegisteredApp;
let names = 0;

const newApp = (scopes = ["read:data:*", "write:data:*"], tokenTtl?: number) =>
  broker.registerApp({ name: `parity-${String(++names)}`, scopes, ...(tokenTtl === undefined ? {} : { tokenTtl }) });

beforeAll(async () => {
  broker = await startDevBroker();
  app = await newApp();
});
afterAll(() => broker.close());
// Each test has its own app: app authentication is rate-limited per client id (a burst of 3).
beforeEach(async () => {
  app = await newApp();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("AgentWritApp: lazy app authentication (C.1)", () => {
  it("makes no HTTP request at construction; authenticates before the first agent only", async () => {
    const rec = recordingFetch();
    broker.resetStats();
    const client = new AgentWritApp({ brokerUrl: broker.url + "/", clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    expect(client.brokerUrl).toBe(broker.url);
    expect(broker.stats.requests).toBe(0);
    await client.createAgent({ orchId: "orch", taskId: "t1", scope: ["read:data:x"] });
    await client.createAgent({ orchId: "orch", taskId: "t2", scope: ["read:data:y"] });
    expect(rec.paths()).toEqual([
      "POST /v1/app/auth",
      "POST /v1/app/launch-tokens",
      "GET /v1/challenge",
      "POST /v1/register",
      "POST /v1/app/launch-tokens",
      "GET /v1/challenge",
      "POST /v1/register",
    ]);
  });

  it("sends the Python SDK's request bodies, Bearer only where the SDK sends it", async () => {
    const rec = recordingFetch();
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    const agent = await client.createAgent({ orchId: "orch-1", taskId: "task-1", scope: ["read:data:*", "write:data:report"], maxTtl: 600, label: "my-label" });
    const [auth, launch, challenge, register] = rec.sent;
    expect(auth).toMatchObject({ bearer: false, body: { client_id: app.clientId, client_secret: app.clientSecret }, status: 200 });
    expect(launch).toMatchObject({ bearer: true, body: { agent_name: "my-label", allowed_scope: ["read:data:*", "write:data:report"], max_ttl: 600, single_use: true }, status: 201 });
    expect(Object.keys(launch!.body as object)).toEqual(["agent_name", "allowed_scope", "max_ttl", "single_use"]);
    expect(challenge).toMatchObject({ bearer: false, body: undefined });
    const reg = register!.body as Record<string, unknown>;
    expect(register!.bearer).toBe(false);
    expect(Object.keys(reg)).toEqual(["launch_token", "nonce", "public_key", "signature", "orch_id", "task_id", "requested_scope"]);
    expect(reg).toMatchObject({ orch_id: "orch-1", task_id: "task-1", requested_scope: ["read:data:*", "write:data:report"] });
    // Standard base64 with padding: the raw 32-byte key, the 64-byte signature over the hex-decoded nonce.
    expect(Buffer.from(reg.public_key as string, "base64")).toHaveLength(32);
    expect(reg.public_key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(reg.signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", agent.keyPair.publicKey));
    expect(Buffer.from(raw).toString("base64")).toBe(reg.public_key);
    expect(agent.expiresIn).toBe(600);
    expect(agent.agentId).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch-1\/task-1\/[0-9a-f]{16}$/);
    // The default label is orch/task; the default max_ttl 300.
    const rec2 = recordingFetch();
    await new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec2.fetch }).createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(rec2.sent[1]!.body).toEqual({ agent_name: "o/t", allowed_scope: ["read:data:x"], max_ttl: 300, single_use: true });
    expect(rec.sent.every((s) => s.path.startsWith("/v1/"))).toBe(true);
  });

  it("authenticates again within 60 s of the app token's expiry, not before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const rec = recordingFetch();
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    const auths = () => rec.sent.filter((s) => s.path === "/v1/app/auth").length;
    await client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(auths()).toBe(1);
    vi.setSystemTime(Date.now() + (1800 - 61) * 1000); // the app token (1800 s) has 61 s left
    await client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(auths()).toBe(1);
    vi.setSystemTime(Date.now() + 2000); // 59 s left
    await client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(auths()).toBe(2);
  });

  it("an app token of 60 s is renewed halfway, so it is not requested before every agent", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const short = await newApp(["read:data:*"], 60);
    const rec = recordingFetch();
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: short.clientId, clientSecret: short.clientSecret, fetch: rec.fetch });
    for (let i = 0; i < 4; i++) await client.createAgent({ orchId: "o", taskId: `t${String(i)}`, scope: ["read:data:x"] });
    vi.setSystemTime(Date.now() + 31_000);
    await client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(rec.sent.filter((s) => s.path === "/v1/app/auth")).toHaveLength(2);
  });

  it("health() needs no authentication", async () => {
    const rec = recordingFetch();
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: "nobody", clientSecret: "nothing", fetch: rec.fetch });
    expect(await client.health()).toEqual({ status: "ok", version: "2.0.0", uptime: expect.any(Number), dbConnected: true, auditEventsCount: expect.any(Number) });
    expect(rec.paths()).toEqual(["GET /v1/health"]);
  });

  it("sends its own User-Agent unless told otherwise", async () => {
    const agents: string[] = [];
    const proxy = await standIn((req, res) => {
      agents.push(String(req.headers["user-agent"]));
      forwardTo(broker.url)(req, res);
    });
    try {
      await new AgentWritApp({ brokerUrl: proxy.url, clientId: "x", clientSecret: "y" }).health();
      await new AgentWritApp({ brokerUrl: proxy.url, clientId: "x", clientSecret: "y", userAgent: "my-agent/1.0" }).health();
      expect(agents).toEqual([`agentwrit-client-js/${CLIENT_VERSION}`, "my-agent/1.0"]);
    } finally {
      await proxy.close();
    }
  });

  it("refuses unusable options before any request", () => {
    const ok = { brokerUrl: broker.url, clientId: "a", clientSecret: "b" };
    expect(() => new AgentWritApp({ ...ok, brokerUrl: "broker.example" })).toThrow(AgentWritError);
    expect(() => new AgentWritApp({ ...ok, brokerUrl: "ftp://broker.example" })).toThrow(/http\(s\)/);
    expect(() => new AgentWritApp({ ...ok, brokerUrl: "https://user:pw@broker.example" })).toThrow(/credentials/);
    expect(() => new AgentWritApp({ ...ok, clientId: "" })).toThrow(/clientId/);
    expect(() => new AgentWritApp({ ...ok, clientSecret: "" })).toThrow(/clientSecret/);
    expect(() => new AgentWritApp({ ...ok, timeoutMs: 0 })).toThrow(/timeoutMs/);
  });

  it("never shows the client secret (JSON, inspect)", () => {
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
    expect(JSON.stringify(client)).not.toContain(app.clientSecret);
    expect(inspect(client, { depth: 5, showHidden: true })).not.toContain(app.clientSecret);
  });
});

describe("createAgent input checks (nothing is consumed for a request the broker would refuse)", () => {
  it.each([
    [{ orchId: "bad/segment" }, /orchId/],
    [{ taskId: ".." }, /taskId/],
    [{ taskId: "" }, /taskId/],
    [{ scope: [] }, /at least one/],
    [{ scope: ["read:data"] }, /"read:data"/],
    [{ scope: ["read::x"] }, /"read::x"/],
    [{ maxTtl: 0 }, /maxTtl/],
    [{ maxTtl: 1.5 }, /maxTtl/],
    [{ label: "" }, /label/],
    [{ allowedOrigins: ["https://api.example/v1"] }, /allowedOrigins/],
    [{ renewBeforeSeconds: -1 }, /renewBeforeSeconds/],
  ])("refuses %j", async (bad, message) => {
    const rec = recordingFetch();
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    await expect(client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"], ...bad })).rejects.toThrow(message);
    expect(rec.sent).toEqual([]);
  });
});

describe("Agent (C.3)", () => {
  let client: AgentWritApp;
  beforeAll(() => {
    client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
  });

  it("has the SDK's fields; scope is read from the token the broker signed", async () => {
    const agent = await client.createAgent({ orchId: "orch", taskId: "task", scope: ["read:data:*", "write:data:report"] });
    const claims = payload(agent.accessToken);
    expect(agent).toMatchObject({ orchId: "orch", taskId: "task", expiresIn: 300, scope: claims.scope, agentId: claims.sub, released: false });
    expect(agent.bearerHeader).toEqual({ Authorization: `Bearer ${agent.accessToken}` });
    expect(Math.abs(agent.expiresAt.getTime() - (Date.now() + 300_000))).toBeLessThan(5000);
  });

  it("scope is what the broker granted, even when that differs from the request", async () => {
    // A proxy narrows requested_scope on its way to the broker: the token is the broker's, the agent reports it.
    const proxy = await listen(async (req, res) => {
      const body = await readBody(req);
      let forwarded = body;
      if (req.url === "/v1/register") {
        const reg = JSON.parse(body) as { requested_scope: string[] };
        reg.requested_scope = reg.requested_scope.slice(0, 1);
        forwarded = JSON.stringify(reg);
      }
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
      const up = await fetch(broker.url + (req.url ?? "/"), { method: req.method ?? "GET", headers, ...(forwarded === "" ? {} : { body: forwarded }) });
      res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" });
      res.end(await up.text());
    });
    try {
      const narrowed = new AgentWritApp({ brokerUrl: proxy.url, clientId: app.clientId, clientSecret: app.clientSecret });
      const agent = await narrowed.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x", "write:data:y"] });
      expect(agent.scope).toEqual(["read:data:x"]);
    } finally {
      await proxy.close();
    }
  });

  it("renew() replaces the token in place and the broker revokes the predecessor", async () => {
    const agent = await client.createAgent({ orchId: "o", taskId: "renew", scope: ["read:data:x"], maxTtl: 120 });
    const before = agent.accessToken;
    await agent.renew();
    expect(agent.accessToken).not.toBe(before);
    expect(agent.expiresIn).toBe(120);
    expect(await client.validate(before)).toEqual({ valid: false, error: "token is invalid or expired" });
    expect(await client.validate(agent.accessToken)).toMatchObject({ valid: true, claims: { sub: agent.agentId } });
  });

  it("concurrent renew() calls share one request", async () => {
    const rec = recordingFetch();
    const c = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    const agent = await c.createAgent({ orchId: "o", taskId: "renew2", scope: ["read:data:x"] });
    await Promise.all([agent.renew(), agent.renew(), agent.renew()]);
    expect(rec.paths().filter((p) => p === "POST /v1/token/renew")).toHaveLength(1);
    expect((await c.validate(agent.accessToken)).valid).toBe(true);
  });

  it("release(): 204, the token is dead, a second release is a local no-op; renew and delegate refused locally", async () => {
    const rec = recordingFetch();
    const c = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, fetch: rec.fetch });
    const agent = await c.createAgent({ orchId: "o", taskId: "release", scope: ["read:data:x"] });
    await agent.release();
    await agent.release();
    expect(agent.released).toBe(true);
    expect(rec.paths().filter((p) => p === "POST /v1/token/release")).toHaveLength(1);
    expect(rec.sent.find((s) => s.path === "/v1/token/release")?.status).toBe(204);
    expect((await c.validate(agent.accessToken)).valid).toBe(false);
    await expect(agent.renew()).rejects.toThrow(new AgentWritError("agent has been released and cannot be renewed"));
    await expect(agent.delegate({ to: agent.agentId, scope: ["read:data:x"] })).rejects.toThrow("agent has been released and cannot delegate");
    expect(rec.paths().filter((p) => p.startsWith("POST /v1/token/renew") || p.startsWith("POST /v1/delegate"))).toEqual([]);
  });

  it("release() of a token the broker no longer accepts: AuthenticationError, and released stays false (as the SDK)", async () => {
    const agent = await client.createAgent({ orchId: "o", taskId: "revoked", scope: ["read:data:x"] });
    await broker.revoke("token", String(payload(agent.accessToken).jti));
    const e = await agent.release().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AuthenticationError);
    expect(e).toMatchObject({ status: 401, errorCode: "unauthorized", problem: { detail: "token verification failed" } });
    expect(agent.released).toBe(false);
  });

  it("delegate(): the chain with its signatures, the delegate's SPIFFE ID, the granted scope; wider is refused", async () => {
    const delegator = await client.createAgent({ orchId: "o", taskId: "boss", scope: ["read:data:*", "write:data:report"] });
    const helper = await client.createAgent({ orchId: "o", taskId: "helper", scope: ["read:data:x"] });
    const d = await delegator.delegate({ to: helper.agentId, scope: ["read:data:customers"], ttl: 120 });
    expect(d).toBeInstanceOf(DelegatedToken);
    expect(d).toMatchObject({ agentId: helper.agentId, expiresIn: 120, scope: ["read:data:customers"] });
    expect(d.delegationChain).toEqual([
      { agent: delegator.agentId, scope: ["read:data:*", "write:data:report"], delegated_at: expect.stringMatching(/Z$/), signature: expect.stringMatching(/^[0-9a-f]{128}$/) },
    ]);
    expect(d.bearerHeader).toEqual({ Authorization: `Bearer ${d.accessToken}` });
    const v = await client.validate(d.accessToken);
    expect(v).toMatchObject({ valid: true, claims: { sub: helper.agentId, task_id: "boss", delegation_chain: d.delegationChain, chain_hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    const wider = await delegator.delegate({ to: helper.agentId, scope: ["admin:revoke:*"] }).catch((e: unknown) => e);
    expect(wider).toBeInstanceOf(AuthorizationError);
    expect(wider).toMatchObject({ status: 403, errorCode: "scope_violation" });
    // Without ttl the body has no ttl (the broker's default, 60 s).
    expect((await delegator.delegate({ to: helper.agentId, scope: ["read:data:y"] })).expiresIn).toBe(60);
  });

  it("module-level renewToken, releaseToken and delegateToken work on a bare token", async () => {
    const root = await client.createAgent({ orchId: "o", taskId: "bare", scope: ["read:data:*"] });
    const helper = await client.createAgent({ orchId: "o", taskId: "bare-helper", scope: ["read:data:x"] });
    const d = await delegateToken(broker.url, root.accessToken, { to: helper.agentId, scope: ["read:data:z"] });
    const renewed = await renewToken(broker.url, d.accessToken);
    expect(renewed.expiresIn).toBe(60);
    expect(payload(renewed.accessToken).delegation_chain).toEqual(payload(d.accessToken).delegation_chain);
    await releaseToken(broker.url, renewed.accessToken);
    expect((await validate(broker.url, renewed.accessToken)).valid).toBe(false);
  });

  it("registerAgent() with a launch token from elsewhere, and an imported key pair", async () => {
    const lt = await fetch(broker.url + "/v1/admin/launch-tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${broker.adminToken()}` },
      body: JSON.stringify({ agent_name: "ext", allowed_scope: ["read:data:*"], max_ttl: 90 }),
    }).then((r) => r.json() as Promise<{ launch_token: string }>);
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]));
    const agent = await registerAgent({ brokerUrl: broker.url, launchToken: lt.launch_token, orchId: "ext", taskId: "t", scope: ["read:data:x"], privateKey: pair });
    expect(agent.keyPair).toBe(pair);
    expect(agent.expiresIn).toBe(90);
    // A lone extractable private key is enough; a non-extractable one needs its pair.
    const lt2 = await fetch(broker.url + "/v1/admin/launch-tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${broker.adminToken()}` },
      body: JSON.stringify({ agent_name: "ext", allowed_scope: ["read:data:*"] }),
    }).then((r) => r.json() as Promise<{ launch_token: string }>);
    const lone = await registerAgent({ brokerUrl: broker.url, launchToken: lt2.launch_token, orchId: "ext", taskId: "t", scope: ["read:data:x"], privateKey: pair.privateKey });
    expect(new Uint8Array(await crypto.subtle.exportKey("raw", lone.keyPair.publicKey))).toEqual(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
    const sealed = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]));
    await expect(registerAgent({ brokerUrl: broker.url, launchToken: "x", orchId: "o", taskId: "t", scope: ["read:data:x"], privateKey: sealed.privateKey })).rejects.toThrow(CryptoError);
    const ecdsa = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]));
    await expect(client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"], privateKey: ecdsa })).rejects.toThrow(CryptoError);
  });

  it("a launch token refused at registration is an AuthenticationError", async () => {
    const e = await registerAgent({ brokerUrl: broker.url, launchToken: "0".repeat(64), orchId: "o", taskId: "t", scope: ["read:data:x"] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AuthenticationError);
    expect((e as AuthenticationError).problem.detail).toBe("launch token: launch token not found");
  });

  it("never shows a token: JSON.stringify, inspect, error messages", async () => {
    const agent = await client.createAgent({ orchId: "o", taskId: "secret", scope: ["read:data:*"] });
    const helper = await client.createAgent({ orchId: "o", taskId: "secret-helper", scope: ["read:data:x"] });
    const d = await agent.delegate({ to: helper.agentId, scope: ["read:data:x"] });
    const texts = [JSON.stringify(agent), inspect(agent, { depth: 5 }), JSON.stringify(d), inspect(d, { depth: 5 })];
    const errors = [
      await agent.delegate({ to: helper.agentId, scope: ["admin:x:y"] }).catch((e: unknown) => e),
      await agent.delegate({ to: "spiffe://agentwrit.local/agent/o/none/0000000000000000", scope: ["read:data:x"] }).catch((e: unknown) => e),
    ];
    await agent.release();
    errors.push(await renewToken(broker.url, agent.accessToken).catch((e: unknown) => e));
    for (const e of errors) {
      expect(e).toBeInstanceOf(ProblemResponseError);
      texts.push(String(e), JSON.stringify(e), inspect(e, { depth: 5 }));
    }
    for (const t of texts) {
      for (const token of [agent.accessToken, d.accessToken]) expect(t).not.toContain(token.split(".")[1]!);
    }
  });
});

describe("validate (C.4) and what the Python SDK gets wrong", () => {
  it("valid agent tokens carry the broker's claims; garbage is valid:false with the generic error", async () => {
    const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
    const agent = await client.createAgent({ orchId: "o", taskId: "v", scope: ["read:data:x"] });
    const v = await validate(broker.url, agent.accessToken);
    expect(v).toEqual({ valid: true, claims: payload(agent.accessToken) });
    expect(await validate(broker.url, "not-a-token")).toEqual({ valid: false, error: "token is invalid or expired" });
  });

  it("admin and app tokens validate (no task_id, no orch_id) instead of crashing", async () => {
    const appToken = await fetch(broker.url + "/v1/app/auth", {
      method: "POST",
      body: JSON.stringify({ client_id: app.clientId, client_secret: app.clientSecret }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const asApp = await validate(broker.url, appToken.access_token);
    expect(asApp).toEqual({ valid: true, claims: payload(appToken.access_token) });
    expect(asApp.valid && asApp.claims.task_id).toBeUndefined();
    const asAdmin = await validate(broker.url, broker.adminToken());
    expect(asAdmin).toMatchObject({ valid: true, claims: { sub: "admin", scope: ["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"] } });
  });

  it("400 and 413 from the broker are ProblemResponseErrors, not raw HTTP errors", async () => {
    const empty = await validate(broker.url, "").catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(ProblemResponseError);
    expect(empty).toMatchObject({ status: 400, errorCode: "invalid_request", problem: { detail: "token field is required", instance: "/v1/token/validate" }, requestId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const huge = await validate(broker.url, "x".repeat(1024 * 1024 + 1)).catch((e: unknown) => e);
    expect(huge).toBeInstanceOf(ProblemResponseError);
    expect(huge).toMatchObject({ status: 413, errorCode: "payload_too_large" });
  });

  it("a 5xx, even without a problem body, is a ProblemResponseError (synthesised as the SDK does)", async () => {
    const down = await listen((_req, res) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end("bad gateway");
    });
    try {
      const e = await validate(down.url, "t").catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ProblemResponseError);
      expect(e).toMatchObject({ status: 502, problem: { type: "about:blank", title: "HTTP 502", detail: "bad gateway", instance: "/v1/token/validate" }, message: "HTTP 502: bad gateway" });
    } finally {
      await down.close();
    }
  });

  it("a broker that answers nonsense is an AgentWritError that quotes nothing", async () => {
    const odd = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"valid":"yes","token":"eyJsecret"}');
    });
    try {
      const e = await validate(odd.url, "t").catch((err: unknown) => err);
      expect(e).toBeInstanceOf(AgentWritError);
      expect(String(e)).not.toContain("eyJsecret");
    } finally {
      await odd.close();
    }
  });

  it("scopeIsSubset is the broker's (Go) algebra, not the SDK's", () => {
    expect(scopeIsSubset(["read:data:x:y"], ["read:data:*"])).toBe(true);
    expect(scopeIsSubset(["read::x"], ["read::x"])).toBe(false);
    expect(scopeIsSubset(["read:data:x"], ["*:*:*"])).toBe(false);
    expect(scopeIsSubset([], [])).toBe(true);
  });
});

describe("errors (C.6)", () => {
  it("401 on app auth → AuthenticationError; 403 over the ceiling → AuthorizationError; the message is '<title>: <detail>'", async () => {
    const bad = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: "0".repeat(64) });
    const e401 = await bad.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).catch((e: unknown) => e);
    expect(e401).toBeInstanceOf(AuthenticationError);
    expect(e401).toBeInstanceOf(ProblemResponseError);
    expect(e401).toBeInstanceOf(AgentWritError);
    expect(e401).toMatchObject({ status: 401, errorCode: "unauthorized", message: "Unauthorized: Authentication failed" });
    const good = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
    const e403 = await good.createAgent({ orchId: "o", taskId: "t", scope: ["admin:revoke:*"] }).catch((e: unknown) => e);
    expect(e403).toBeInstanceOf(AuthorizationError);
    expect(e403).toMatchObject({
      status: 403,
      errorCode: "forbidden",
      message: "Forbidden: requested scopes exceed app ceiling; allowed: [read:data:* write:data:*]",
      problem: { type: "urn:agentwrit:error:forbidden", instance: "/v1/app/launch-tokens" },
    });
  });

  it("429 → RateLimitError with retryAfter from Retry-After", async () => {
    const limited = await newApp();
    const make = () => new AgentWritApp({ brokerUrl: broker.url, clientId: limited.clientId, clientSecret: limited.clientSecret });
    for (let i = 0; i < 3; i++) await make().createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    const e = await make().createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RateLimitError);
    expect(e).toMatchObject({ status: 429, errorCode: "rate_limited", retryAfter: 60 });
  });

  it("network errors and timeouts → TransportError naming the broker, never a token", async () => {
    const closed = await closedPortUrl();
    const e = await validate(closed, "secret-token-text").catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TransportError);
    expect((e as Error).message).toMatch(new RegExp(`^broker unreachable at ${closed}: `));
    expect((e as Error).message).not.toContain("secret-token-text");
    const silent = await silentBroker();
    try {
      const slow = await new AgentWritApp({ brokerUrl: silent.url, clientId: "a", clientSecret: "b", timeoutMs: 200 }).health().catch((err: unknown) => err);
      expect(slow).toBeInstanceOf(TransportError);
      expect((slow as Error).message).toBe(`broker unreachable at ${silent.url}: no answer within 200 ms`);
    } finally {
      await silent.close();
    }
  });

  it("a broker redirect is never followed (the token stays with the broker it was meant for)", async () => {
    const seen: string[] = [];
    const elsewhere = await listen((req, res) => {
      seen.push(String(req.headers.authorization));
      res.end("{}");
    });
    const redirecting = await listen((_req, res) => {
      res.writeHead(307, { location: elsewhere.url + "/v1/token/renew" });
      res.end();
    });
    try {
      const e = await renewToken(redirecting.url, "a.b.c").catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ProblemResponseError);
      expect((e as ProblemResponseError).status).toBe(307);
      expect(seen).toEqual([]);
    } finally {
      await redirecting.close();
      await elsewhere.close();
    }
  });
});

