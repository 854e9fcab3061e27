import { allOf, anyOf, createGuard } from "@agentwrit/guard";
import type { DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentwritTokenVerifier, ANY_AGENT, createMcpGate, createMcpGuard, getAgentIdentity, inspectBody, type McpGate } from "../src/index.js";
import { broker, challenge, METADATA_URL, RESOURCE, toolCall } from "./support.js";

const TOOLS = {
  get_patient_record: "read:records:patient-{patientId}",
  write_prescription: ["read:records:patient-{patientId}", "write:prescriptions:patient-{patientId}"],
  list_my_patients: "read:records:patient-*",
  search: anyOf("read:records:all", "admin:records:{scope}"),
};

let b: DevBroker;
let gate: McpGate;
let reader: string;
let wide: string;

beforeAll(async () => {
  b = await broker();
  // Local mode: signature and claims only, so these unit tests never wait on the broker.
  gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, tools: TOOLS });
  reader = "Bearer " + (await b.createAgent({ orchId: "o", taskId: "reader", scope: ["read:records:patient-42"] })).accessToken;
  wide = "Bearer " + (await b.createAgent({ orchId: "o", taskId: "wide", scope: ["read:records:*"] })).accessToken;
});
afterAll(async () => {
  await b.close();
});

describe("authentication", () => {
  it("builds the AuthInfo the SDK expects", async () => {
    const r = await gate.check(reader, toolCall("get_patient_record", { patientId: "42" }), "POST");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.authInfo.clientId).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/o\/reader\//);
    expect(r.authInfo.scopes).toEqual(["read:records:patient-42"]);
    expect(r.authInfo.token).toBe(reader.slice("Bearer ".length));
    expect(Number.isInteger(r.authInfo.expiresAt)).toBe(true);
    expect(r.authInfo.expiresAt).toBe(Math.floor(r.identity.expiresAt.getTime() / 1000));
    expect(r.authInfo.resource?.href).toBe(RESOURCE);
    expect(getAgentIdentity(r.authInfo)).toBe(r.identity);
  });

  it("answers 401 with resource_metadata without a token, and for a bad one", async () => {
    for (const header of [undefined, "Bearer not.a.jwt", "Basic abc"]) {
      const r = await gate.check(header, undefined, "GET");
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.response.status).toBe(401);
      expect(challenge(r.response.headers["WWW-Authenticate"]).resource_metadata).toBe(METADATA_URL);
    }
  });

  it("binds the audience to the resource by default", async () => {
    const other = await broker({ audience: "https://elsewhere.example/mcp" });
    try {
      const t = "Bearer " + (await other.createAgent({ orchId: "o", taskId: "t", scope: ["read:records:patient-42"] })).accessToken;
      const bound = createMcpGate({ guard: { publicKey: other.publicKeyPem, resource: RESOURCE }, tools: TOOLS });
      const r = await bound.check(t, undefined, "GET");
      expect(r.ok ? 0 : r.error?.code).toBe("audience_mismatch");
      const unbound = createMcpGate({ guard: { publicKey: other.publicKeyPem, resource: RESOURCE, requireAudience: false }, tools: TOOLS });
      const u = await unbound.check(t, undefined, "GET");
      expect(u.ok).toBe(true);
      // The token does not name this resource, so AuthInfo.resource stays unset.
      expect(u.ok && u.authInfo.resource).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it("answers 503 (not 401) when the broker is down", async () => {
    const down = createMcpGate({
      guard: createGuard({ brokerUrl: "http://127.0.0.1:1", resourceMetadataUrl: METADATA_URL, brokerTimeoutMs: 500 }),
      tools: TOOLS,
    });
    const r = await down.check(reader, undefined, "GET");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(503);
    expect(r.response.headers["Retry-After"]).toBeDefined();
    expect(r.response.headers["WWW-Authenticate"]).toBeUndefined();
  });
});

describe("tools/call before dispatch", () => {
  it("allows a call the scope covers and refuses one it does not, naming the scope", async () => {
    expect((await gate.check(reader, toolCall("get_patient_record", { patientId: "42" }), "POST")).ok).toBe(true);
    const r = await gate.check(reader, toolCall("get_patient_record", { patientId: "43" }), "POST");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(403);
    const c = challenge(r.response.headers["WWW-Authenticate"]);
    expect(c).toMatchObject({ error: "insufficient_scope", scope: "read:records:patient-43", resource_metadata: METADATA_URL });
    expect(JSON.parse(r.response.body)).toMatchObject({ code: "insufficient_scope", scope: ["read:records:patient-43"] });
  });

  it("names only the missing scopes of an all-of requirement", async () => {
    const r = await gate.check(reader, toolCall("write_prescription", { patientId: "42", drug: "x" }), "POST");
    expect(!r.ok && challenge(r.response.headers["WWW-Authenticate"]).scope).toBe("write:prescriptions:patient-42");
  });

  it("checks family and any-of requirements with core's rules", async () => {
    expect((await gate.check(reader, toolCall("list_my_patients"), "POST")).ok).toBe(true);
    expect((await gate.check(wide, toolCall("search", { scope: "x" }), "POST")).ok).toBe(true);
    const r = await gate.check(reader, toolCall("search", { scope: "x" }), "POST");
    expect(!r.ok && challenge(r.response.headers["WWW-Authenticate"]).scope).toBe("read:records:all admin:records:x");
  });

  it("checks every tools/call of a batch and names every missing scope in one challenge", async () => {
    const batch = [
      { jsonrpc: "2.0", method: "notifications/initialized" },
      toolCall("get_patient_record", { patientId: "42" }),
      toolCall("get_patient_record", { patientId: "43" }),
      { jsonrpc: "2.0", id: 99, method: "tools/list" },
      toolCall("write_prescription", { patientId: "44", drug: "x" }),
    ];
    const r = await gate.check(reader, batch, "POST");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(403);
    expect(challenge(r.response.headers["WWW-Authenticate"]).scope?.split(" ")).toEqual([
      "read:records:patient-43",
      "read:records:patient-44",
      "write:prescriptions:patient-44",
    ]);
    const ok = await gate.check(reader, [toolCall("get_patient_record", { patientId: "42" }), toolCall("list_my_patients")], "POST");
    expect(ok.ok).toBe(true);
  });

  it("checks a tools/call sent as a notification (no id) too", async () => {
    const r = await gate.check(reader, { jsonrpc: "2.0", method: "tools/call", params: { name: "get_patient_record", arguments: { patientId: "43" } } }, "POST");
    expect(r.ok ? 200 : r.response.status).toBe(403);
  });

  it("passes requests that carry no tool call", async () => {
    expect((await gate.check(reader, { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, "POST")).ok).toBe(true);
    expect((await gate.check(reader, undefined, "GET")).ok).toBe(true);
  });

  it.each([
    ["null", null],
    ["a number", 42],
    ["a string", "tools/call"],
    ["an empty batch", []],
    ["a batch with a non-object", [toolCall("list_my_patients"), 1]],
    ["a batch with a nested array", [[toolCall("list_my_patients")]]],
    ["tools/call without params", { jsonrpc: "2.0", id: 1, method: "tools/call" }],
    ["tools/call with a numeric name", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 7 } }],
    ["tools/call with array arguments", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_my_patients", arguments: ["42"] } }],
    ["tools/call with string params", { jsonrpc: "2.0", id: 1, method: "tools/call", params: "get_patient_record" }],
  ])("refuses a malformed body (%s) with a JSON-RPC 400", async (_label, body) => {
    const r = await gate.check(reader, body, "POST");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(400);
    expect(JSON.parse(r.response.body)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600 } });
  });

  it("refuses a POST whose body was not parsed, and a call without the method, as the server's mistake (500)", async () => {
    const r = await gate.check(reader, undefined, "POST");
    expect(r.ok ? 200 : r.response.status).toBe(500);
    expect(r.ok ? undefined : r.reason).toMatch(/without its parsed body/);
    expect(r.ok ? undefined : JSON.parse(r.response.body)).toMatchObject({ jsonrpc: "2.0", error: { code: -32603 }, id: null });
    // JavaScript callers can still leave the method out: that must never pass an unchecked body.
    const check = (a: string, b: unknown): ReturnType<McpGate["check"]> => (gate.check as (this: McpGate, a: string, b: unknown) => ReturnType<McpGate["check"]>).call(gate, a, b);
    const m = await check(reader, toolCall("get_patient_record", { patientId: "43" }));
    expect(m.ok ? 200 : m.response.status).toBe(500);
    expect(m.ok ? undefined : m.reason).toMatch(/HTTP method/);
  });

  it("never passes a body it cannot read: raw bytes or a stream are a 500, a body given with another method is checked", async () => {
    const refused = toolCall("get_patient_record", { patientId: "43" });
    const text = JSON.stringify(refused);
    for (const [label, body] of [
      ["Buffer", Buffer.from(text)],
      ["Uint8Array", new TextEncoder().encode(text)],
      ["ArrayBuffer", new TextEncoder().encode(text).buffer],
      ["Blob", new Blob([text])],
      ["ReadableStream", new Blob([text]).stream()],
    ] as const) {
      const r = await gate.check(reader, body, "POST");
      expect([label, r.ok ? 200 : r.response.status, r.ok ? undefined : r.reason]).toEqual([label, 500, expect.stringMatching(/raw bytes or a stream/)]);
    }
    for (const method of ["GET", "PUT", "PATCH", " POST", "DELETE"]) {
      const r = await gate.check(reader, refused, method);
      expect([method, r.ok ? 200 : r.response.status]).toEqual([method, 403]);
    }
    // No body with GET or DELETE is fine.
    expect((await gate.check(reader, undefined, "GET")).ok).toBe(true);
  });

  it.each([
    ["missing", {}],
    ["empty", { patientId: "" }],
    ["a number", { patientId: 42 }],
    ["null", { patientId: null }],
    ["an array", { patientId: ["42"] }],
    ["a wildcard", { patientId: "*" }],
    ["containing *", { patientId: "4*" }],
    ["containing whitespace", { patientId: "42 " }],
    ["containing %", { patientId: "%34%32" }],
  ])("refuses an argument that is %s with 400 invalid_request", async (_label, args) => {
    const r = await gate.check(wide, toolCall("get_patient_record", args), "POST");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(400);
    expect(challenge(r.response.headers["WWW-Authenticate"]).error).toBe("invalid_request");
    expect(JSON.parse(r.response.body)).toMatchObject({ code: "invalid_parameter" });
  });

  it("denies unlisted tools by default (403 without scope), allows them on request", async () => {
    const r = await gate.check(wide, toolCall("drop_database"), "POST");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(403);
    const c = challenge(r.response.headers["WWW-Authenticate"]);
    expect(c.error).toBe("insufficient_scope");
    expect(c.scope).toBeUndefined();
    // Prototype names are not tools either.
    expect((await gate.check(wide, toolCall("constructor"), "POST")).ok).toBe(false);
    expect((await gate.check(wide, toolCall("__proto__"), "POST")).ok).toBe(false);
    const open = createMcpGate({ guard: gate.guard, tools: TOOLS, unlistedTools: "allow" });
    expect((await open.check(wide, toolCall("drop_database"), "POST")).ok).toBe(true);
  });
});

describe("the fetch form", () => {
  const post = (body: string, auth = reader): Request =>
    new Request(RESOURCE, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body });

  it("returns the parsed body and consumes the request's, so the transport can only get the checked one", async () => {
    const req = post(JSON.stringify(toolCall("get_patient_record", { patientId: "42" })));
    const r = await gate.checkRequest(req);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.parsedBody).toMatchObject({ method: "tools/call" });
    expect(req.bodyUsed).toBe(true);
  });

  it("answers 401 before reading the body, 400 for invalid JSON, 403 for a refused call, 413 when too large", async () => {
    const unauth = await gate.checkRequest(post("{", "Bearer nope"));
    expect(unauth.ok ? 200 : unauth.response.status).toBe(401);
    const bad = await gate.checkRequest(post("{"));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.response.status).toBe(400);
      expect(await bad.response.json()).toMatchObject({ error: { code: -32700 } });
    }
    const refused = await gate.checkRequest(post(JSON.stringify(toolCall("get_patient_record", { patientId: "43" }))));
    expect(refused.ok ? 200 : refused.response.status).toBe(403);
    expect(refused.ok ? "" : challenge(refused.response.headers.get("www-authenticate")).scope).toBe("read:records:patient-43");
    const small = createMcpGate({ guard: gate.guard, tools: TOOLS, maxBodyBytes: 64 });
    const big = await small.checkRequest(post(JSON.stringify(toolCall("get_patient_record", { patientId: "42".repeat(100) }))));
    expect(big.ok ? 200 : big.response.status).toBe(413);
  });

  it("authenticates GET and DELETE without a body", async () => {
    const r = await gate.checkRequest(new Request(RESOURCE, { method: "GET", headers: { authorization: reader } }));
    expect(r.ok && r.parsedBody).toBeUndefined();
    const duplicated = new Headers();
    duplicated.append("authorization", reader);
    duplicated.append("authorization", reader);
    const d = await gate.checkRequest(new Request(RESOURCE, { method: "DELETE", headers: duplicated }));
    expect(d.ok ? 200 : d.response.status).toBe(401);
  });
});

describe("tools/list visibility", () => {
  it("shows a templated tool when the agent holds a scope the template can produce", async () => {
    const r = await gate.authenticate(reader);
    const w = await gate.authenticate(wide);
    if (!r.ok || !w.ok) throw new Error("authentication failed");
    const all = Object.keys(TOOLS).map((name) => ({ name })).concat([{ name: "unlisted" }]);
    expect(gate.visibleTools(all, r.authInfo).map((t) => t.name)).toEqual(["get_patient_record", "list_my_patients"]);
    expect(gate.visibleTools(all, w.identity).map((t) => t.name)).toEqual(["get_patient_record", "list_my_patients", "search"]);
    expect(gate.visibleTools(all, undefined)).toEqual([]);
    const open = createMcpGate({ guard: gate.guard, tools: TOOLS, unlistedTools: "allow" });
    expect(open.canSee(r.authInfo, "unlisted")).toBe(true);
  });
});

describe("configuration", () => {
  it("rejects bad options eagerly", () => {
    expect(() => createMcpGate({ guard: gate.guard, tools: { t: "read:records" } })).toThrow(/tools\["t"\]/);
    expect(() => createMcpGate({ guard: gate.guard, tools: {}, unlistedTools: "maybe" as "deny" })).toThrow(TypeError);
    expect(() => createMcpGate({ guard: createGuard({ publicKey: b.publicKeyPem }), tools: {} })).toThrow(/resource_metadata/);
    expect(() => createMcpGate({ guard: createGuard({ publicKey: b.publicKeyPem }), tools: {}, requireResourceMetadata: false })).not.toThrow();
    expect(() => createMcpGuard({ publicKey: b.publicKeyPem, resource: "https://mcp.example/mcp#x" })).toThrow(/fragment/);
    expect(() => createMcpGuard({ publicKey: b.publicKeyPem, resource: "mcp" })).toThrow(TypeError);
  });

  it("refuses an explicit audience without the resource, unless allowAudienceWithoutResource", () => {
    const api = "https://api.example";
    expect(() => createMcpGuard({ publicKey: b.publicKeyPem, resource: RESOURCE, audience: api })).toThrow(/does not contain the MCP server's resource/);
    expect(() => createMcpGuard({ publicKey: b.publicKeyPem, resource: RESOURCE, audience: [api, RESOURCE] })).not.toThrow();
    expect(() => createMcpGuard({ publicKey: b.publicKeyPem, resource: RESOURCE, audience: api, allowAudienceWithoutResource: true })).not.toThrow();
    expect(() => createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE, audience: api }, tools: TOOLS })).toThrow(TypeError);
    expect(() => createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE, audience: api }, tools: TOOLS, allowAudienceWithoutResource: true })).not.toThrow();
    // A guard made elsewhere (the README's "real broker" guard) reused for an MCP server.
    const apiGuard = createGuard({ publicKey: b.publicKeyPem, audience: api, resourceMetadataUrl: METADATA_URL });
    expect(() => createMcpGate({ guard: apiGuard, tools: TOOLS, resource: RESOURCE })).toThrow(/does not contain/);
    expect(() => createMcpGate({ guard: apiGuard, tools: TOOLS, resource: RESOURCE, allowAudienceWithoutResource: true })).not.toThrow();
    const unchecked = createGuard({ publicKey: b.publicKeyPem, resourceMetadataUrl: METADATA_URL });
    expect(() => createMcpGate({ guard: unchecked, tools: TOOLS, resource: RESOURCE })).toThrow(/does not check the token audience/);
    expect(() => agentwritTokenVerifier(apiGuard, { resource: RESOURCE })).toThrow(TypeError);
    expect(() => agentwritTokenVerifier(apiGuard, { resource: RESOURCE, allowAudienceWithoutResource: true })).not.toThrow();
    // Without a resource there is nothing to compare.
    expect(() => createMcpGate({ guard: apiGuard, tools: TOOLS })).not.toThrow();
  });

  it("never reads an empty requirement as 'anyone'; ANY_AGENT says it explicitly", async () => {
    for (const empty of [[], anyOf(), [[]], allOf(), undefined, null, ""]) {
      expect(() => createMcpGate({ guard: gate.guard, tools: { t: empty as never } })).toThrow(TypeError);
    }
    // Configuration text cannot produce the marker.
    expect(() => createMcpGate({ guard: gate.guard, tools: JSON.parse('{"t":"ANY_AGENT"}') as Record<string, string> })).toThrow(/tools\["t"\]/);
    const open = createMcpGate({ guard: gate.guard, tools: { whoami: ANY_AGENT } });
    expect((await open.check(reader, toolCall("whoami"), "POST")).ok).toBe(true);
    expect((await open.check(undefined, toolCall("whoami"), "POST")).ok).toBe(false);
    expect(open.canSee(await open.guard.authenticate(reader), "whoami")).toBe(true);
    expect(open.requirementOf("whoami")).toBe(ANY_AGENT);
    expect(() => createMcpGate({ guard: gate.guard, tools: TOOLS, logger: {} as never })).toThrow(/logger/);
  });

  it("derives the path-aware resource metadata URL", () => {
    expect(createMcpGuard({ publicKey: b.publicKeyPem, resource: RESOURCE }).resourceMetadataUrl).toBe(METADATA_URL);
  });

  it("inspectBody reads tool calls without trusting the shape", () => {
    expect(inspectBody(toolCall("a", { x: "1" }))).toMatchObject({ ok: true, calls: [{ name: "a", arguments: { x: "1" } }] });
    expect(inspectBody(toolCall("a"))).toMatchObject({ ok: true, calls: [{ name: "a", arguments: {} }] });
  });
});
