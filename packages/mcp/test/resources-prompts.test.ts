/**
 * Resources, prompts and completion: every MCP request that touches data has a map and is denied
 * by default, checked before dispatch; lists are filtered; the handler wrappers apply the same rules.
 */
import { anyOf, type GuardLogger } from "@agentwrit/guard";
import type { DevBroker } from "@agentwrit/dev-broker";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANY_AGENT, createMcpGate, MAX_URI_LENGTH, type GateResult, type McpGate } from "../src/index.js";
import { buildServer, listen, MAPS, type Listening } from "./fixtures.js";
import { broker, challenge, RESOURCE } from "./support.js";

let b: DevBroker;
let gate: McpGate;
let reader: string;
let other: string;
let readerToken: string;
let otherToken: string;

beforeAll(async () => {
  b = await broker();
  gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, ...MAPS });
  readerToken = (await b.createAgent({ orchId: "o", taskId: "reader", scope: ["read:records:patient-42"] })).accessToken;
  otherToken = (await b.createAgent({ orchId: "o", taskId: "other", scope: ["read:invoices:x"] })).accessToken;
  reader = "Bearer " + readerToken;
  other = "Bearer " + otherToken;
});
afterAll(async () => {
  await b.close();
});

let nextId = 1;
const rpc = (method: string, params: Record<string, unknown>): Record<string, unknown> => ({ jsonrpc: "2.0", id: nextId++, method, params });
const read = (uri: string): Record<string, unknown> => rpc("resources/read", { uri });
const status = (r: GateResult): number => (r.ok ? 200 : r.response.status);
const scopeOf = (r: GateResult): string | undefined => (r.ok ? undefined : challenge(r.response.headers["WWW-Authenticate"]).scope);
const codeOf = (r: GateResult): unknown => (r.ok ? undefined : (JSON.parse(r.response.body) as { code?: unknown; error?: { code?: unknown } }).code ?? (JSON.parse(r.response.body) as { error?: { code?: unknown } }).error?.code);

describe("resources/read and resources/subscribe", () => {
  it("binds template placeholders from the URI and refuses other patients with a challenge", async () => {
    expect(status(await gate.check(reader, read("records://patients/42"), "POST"))).toBe(200);
    const r = await gate.check(reader, read("records://patients/43"), "POST");
    expect(status(r)).toBe(403);
    expect(scopeOf(r)).toBe("read:records:patient-43");
    const sub = await gate.check(reader, rpc("resources/subscribe", { uri: "records://patients/43" }), "POST");
    expect(status(sub)).toBe(403);
    expect(status(await gate.check(reader, rpc("resources/subscribe", { uri: "records://patients/42" }), "POST"))).toBe(200);
  });

  it("reads the URI as the SDK does (new URL), percent-decodes values once, then applies the unsafe-value rules", async () => {
    // A URI not in the parser's own form is refused, whatever it resolves to: a handler reading the
    // raw text must never see another resource than the one checked.
    for (const uri of ["records://patients/43/../42", "records://patients/42/../43", "records://patients/./42", "RECORDS://patients/42"]) {
      const r = await gate.check(reader, read(uri), "POST");
      expect([uri, status(r)]).toEqual([uri, 400]);
    }
    expect(status(await gate.check(reader, read("records://patients/4%32"), "POST"))).toBe(200);
    for (const uri of ["records://patients/%2A", "records://patients/%252A", "records://patients/%zz", "records://patients/4%2032", `records://patients/${"4".repeat(300)}`]) {
      const r = await gate.check(reader, read(uri), "POST");
      expect([uri, status(r), codeOf(r)]).toEqual([uri, 400, "invalid_parameter"]);
    }
  });

  it("denies a URI that matches no entry (403 without scope), lets exact entries win, and refuses malformed ones (400)", async () => {
    const r = await gate.check(reader, read("records://secret"), "POST");
    expect(status(r)).toBe(403);
    expect(scopeOf(r)).toBeUndefined();
    expect(status(await gate.check(other, read("records://index"), "POST"))).toBe(200);
    for (const body of [rpc("resources/read", {}), rpc("resources/read", { uri: 7 }), read("not a uri"), read("records://patients/" + "4".repeat(MAX_URI_LENGTH))]) {
      const bad = await gate.check(reader, body, "POST");
      expect(status(bad)).toBe(400);
      expect(codeOf(bad)).toBe(-32600);
    }
    const open = createMcpGate({ guard: gate.guard, ...MAPS, unlistedResources: "allow" });
    expect(status(await open.check(reader, read("records://secret"), "POST"))).toBe(200);
  });

  it("requires every matching template when several match", async () => {
    const both = createMcpGate({
      guard: gate.guard,
      resources: { "records://patients/{patientId}": "read:records:patient-{patientId}", "records://{kind}/{id}": "read:records:x-{id}" },
    });
    const r = await both.check(reader, read("records://patients/42"), "POST");
    expect(status(r)).toBe(403);
    expect(scopeOf(r)).toBe("read:records:x-42");
  });

  it.each([
    ["a level-2 template", { "records://x/{+path}": "read:records:x" }, /level-1/],
    ["a query expansion", { "records://x{?q}": "read:records:x" }, /level-1/],
    ["two names in one expression", { "records://x/{a,b}": "read:records:x" }, /level-1/],
    ["an explode modifier", { "records://x/{a*}": "read:records:x" }, /level-1/],
    ["adjacent placeholders", { "records://x/{a}{b}": "read:records:{a}" }, /unambiguously/],
    ["placeholders split by a dash", { "records://x/{a}-{b}": "read:records:{a}" }, /unambiguously/],
    ["a key the URL parser rewrites", { "HTTPS://Example.com/{id}": "read:records:{id}" }, /URL parser/],
    ["an exact key the URL parser rewrites", { "https://example.com": "read:records:x" }, /URL parser/],
    ["a placeholder the template does not have", { "records://x/{id}": "read:records:{patientId}" }, /not a placeholder of the template/],
    ["a placeholder in an exact URI's requirement", { "records://x/1": "read:records:{id}" }, /nothing to bind/],
    ["an empty requirement", { "records://x/{id}": [] }, /empty/],
    ["an empty anyOf", { "records://x/{id}": anyOf() }, /anyOf/],
    ["a key that is not a URI", { "patients": "read:records:x" }, /absolute URI/],
  ])("refuses %s at construction", (_label, resources, message) => {
    expect(() => createMcpGate({ guard: gate.guard, resources: resources })).toThrow(message);
  });
});

describe("prompts/get and completion/complete", () => {
  it("binds prompts/get to the prompt's arguments; denies unlisted prompts", async () => {
    const get = (name: string, args?: Record<string, unknown>): Record<string, unknown> => rpc("prompts/get", args === undefined ? { name } : { name, arguments: args });
    expect(status(await gate.check(reader, get("summarize_patient", { patientId: "42" }), "POST"))).toBe(200);
    expect(scopeOf(await gate.check(reader, get("summarize_patient", { patientId: "43" }), "POST"))).toBe("read:records:patient-43");
    expect(codeOf(await gate.check(reader, get("summarize_patient"), "POST"))).toBe("invalid_parameter");
    expect(codeOf(await gate.check(reader, get("summarize_patient", { patientId: "*" }), "POST"))).toBe("invalid_parameter");
    expect(codeOf(await gate.check(reader, rpc("prompts/get", { arguments: {} }), "POST"))).toBe(-32600);
    const unlisted = await gate.check(reader, get("drop_tables"), "POST");
    expect(status(unlisted)).toBe(403);
    expect(scopeOf(unlisted)).toBeUndefined();
    const open = createMcpGate({ guard: gate.guard, ...MAPS, unlistedPrompts: "allow" });
    expect(status(await open.check(reader, get("drop_tables"), "POST"))).toBe(200);
  });

  it("allows completion only to an agent that could use the prompt or template with some value", async () => {
    const complete = (ref: Record<string, unknown>): Record<string, unknown> => rpc("completion/complete", { ref, argument: { name: "patientId", value: "4" } });
    for (const ref of [{ type: "ref/prompt", name: "summarize_patient" }, { type: "ref/resource", uri: "records://patients/{patientId}" }]) {
      expect(status(await gate.check(reader, complete(ref), "POST"))).toBe(200);
      const r = await gate.check(other, complete(ref), "POST");
      expect(status(r)).toBe(403);
      expect(scopeOf(r)).toBe("read:records:patient-*");
    }
    expect(status(await gate.check(reader, complete({ type: "ref/prompt", name: "nope" }), "POST"))).toBe(403);
    expect(status(await gate.check(reader, complete({ type: "ref/resource", uri: "records://nope/{x}" }), "POST"))).toBe(403);
    for (const ref of [{ type: "ref/tool", name: "x" }, { type: "ref/prompt" }, "summarize_patient"]) {
      expect(codeOf(await gate.check(reader, complete(ref as Record<string, unknown>), "POST"))).toBe(-32600);
    }
  });

  it("binds the completion's context.arguments: a completer is never asked about another patient", async () => {
    const notes = createMcpGate({ guard: gate.guard, prompts: { visit_note: "read:records:patient-{patientId}" }, resources: { "records://patients/{patientId}/notes/{noteId}": "read:records:patient-{patientId}" } });
    const complete = (ref: Record<string, unknown>, context?: Record<string, unknown>): Record<string, unknown> =>
      rpc("completion/complete", { ref, argument: { name: "noteId", value: "" }, ...(context === undefined ? {} : { context }) });
    for (const ref of [{ type: "ref/prompt", name: "visit_note" }, { type: "ref/resource", uri: "records://patients/{patientId}/notes/{noteId}" }]) {
      expect(status(await notes.check(reader, complete(ref), "POST"))).toBe(200);
      expect(status(await notes.check(reader, complete(ref, { arguments: { patientId: "42" } }), "POST"))).toBe(200);
      const other = await notes.check(reader, complete(ref, { arguments: { patientId: "43" } }), "POST");
      expect([status(other), scopeOf(other)]).toEqual([403, "read:records:patient-43"]);
      expect(codeOf(await notes.check(reader, complete(ref, { arguments: { patientId: "4*" } }), "POST"))).toBe("invalid_parameter");
      expect(codeOf(await notes.check(reader, complete(ref, { arguments: "patientId=43" }), "POST"))).toBe(-32600);
      // Values are filtered with the context bound too.
      const auth = await notes.authenticate(reader);
      if (!auth.ok) throw new Error("authentication failed");
      expect(notes.visibleCompletions(ref as { type: string }, "patientId", ["42", "43"], auth.identity, { noteId: "n1" })).toEqual(["42"]);
      expect(notes.visibleCompletions(ref as { type: string }, "noteId", ["n1", "n2"], auth.identity, { patientId: "43" })).toEqual([]);
      expect(notes.visibleCompletions(ref as { type: string }, "noteId", ["n1", "n2"], auth.identity, { patientId: "42" })).toEqual(["n1", "n2"]);
    }
  });

  it("shows only the completion values the agent could use (visibleCompletions), other placeholders as any value", async () => {
    const auth = await gate.authenticate(reader);
    if (!auth.ok) throw new Error("authentication failed");
    const values = ["42", "43", "44", "4*", ""];
    expect(gate.visibleCompletions({ type: "ref/prompt", name: "summarize_patient" }, "patientId", values, auth.authInfo)).toEqual(["42"]);
    expect(gate.visibleCompletions({ type: "ref/resource", uri: "records://patients/{patientId}" }, "patientId", values, auth.identity)).toEqual(["42"]);
    expect(gate.visibleCompletions({ type: "ref/prompt", name: "summarize_patient" }, "other", values, auth.identity)).toEqual(values);
    expect(gate.visibleCompletions({ type: "ref/prompt", name: "nope" }, "patientId", values, auth.identity)).toEqual([]);
    expect(gate.visibleCompletions({ type: "ref/prompt", name: "summarize_patient" }, "patientId", values, undefined)).toEqual([]);
    const two = createMcpGate({ guard: gate.guard, prompts: { pair: "read:records:{ward}-{patientId}" } });
    const wardAgent = { ...auth.identity, scope: ["read:records:north-42"] };
    expect(two.visibleCompletions({ type: "ref/prompt", name: "pair" }, "ward", ["north", "south"], wardAgent)).toEqual(["north"]);
    expect(two.visibleCompletions({ type: "ref/prompt", name: "pair" }, "patientId", ["42", "43"], wardAgent)).toEqual(["42"]);
  });
});

describe("over Streamable HTTP with the SDK's own Client", () => {
  let server: Listening;
  const runs: string[] = [];
  beforeAll(async () => {
    server = await listen("express", gate, false, { runs });
  });
  afterAll(async () => {
    await server.close();
  });

  async function connect(token: string): Promise<Client> {
    const client = new Client({ name: "t", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    return client;
  }

  it("filters resources/list, resources/templates/list and prompts/list, and refuses before dispatch", async () => {
    const client = await connect(readerToken);
    try {
      expect((await client.listResources()).resources.map((r) => r.uri).sort()).toEqual(["records://index", "records://patients/42"]);
      expect((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toEqual(["records://patients/{patientId}"]);
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["summarize_patient"]);
      expect(JSON.stringify(await client.readResource({ uri: "records://patients/42" }))).toContain("patient 42");
      expect(JSON.stringify(await client.getPrompt({ name: "summarize_patient", arguments: { patientId: "42" } }))).toContain("Summarize patient 42");
      // The fixture's completers offer every patient; the agent is shown only those it may use.
      for (const ref of [{ type: "ref/prompt", name: "summarize_patient" }, { type: "ref/resource", uri: "records://patients/{patientId}" }] as const) {
        const { completion } = await client.complete({ ref, argument: { name: "patientId", value: "4" } });
        expect([ref.type, completion.values, completion.total]).toEqual([ref.type, ["42"], undefined]);
      }
      runs.length = 0;
      for (const attempt of [
        client.readResource({ uri: "records://patients/43" }),
        client.readResource({ uri: "records://secret" }),
        client.getPrompt({ name: "summarize_patient", arguments: { patientId: "43" } }),
      ]) {
        const e = await attempt.then(() => undefined, (err: unknown) => err);
        expect(e).toBeInstanceOf(StreamableHTTPError);
        expect((e as StreamableHTTPError).code).toBe(403);
      }
      expect(runs).toEqual([]);
    } finally {
      await client.close();
    }
    const stranger = await connect(otherToken);
    try {
      expect((await stranger.listResources()).resources.map((r) => r.uri)).toEqual(["records://index"]);
      expect((await stranger.listResourceTemplates()).resourceTemplates).toEqual([]);
      expect((await stranger.listPrompts()).prompts).toEqual([]);
    } finally {
      await stranger.close();
    }
  });
});

describe("handler wrappers", () => {
  it("wrapResource and wrapPrompt run the handler only when extra.authInfo allows it, else throw an McpError", async () => {
    const runs: string[] = [];
    const server = buildServer(gate, { wrap: true, runs });
    const auth = await gate.authenticate(reader);
    if (!auth.ok) throw new Error("authentication failed");
    const handlers = (server.server as unknown as { _requestHandlers: Map<string, (req: unknown, extra: unknown) => Promise<unknown>> })._requestHandlers;
    const call = (method: string, params: Record<string, unknown>, authInfo: unknown): Promise<unknown> =>
      handlers.get(method)!({ method, params }, { authInfo, signal: new AbortController().signal, requestId: 1, sendNotification: () => undefined, sendRequest: () => undefined });
    await expect(call("resources/read", { uri: "records://patients/42" }, auth.authInfo)).resolves.toMatchObject({ contents: [{ text: "patient 42" }] });
    const refused = await call("resources/read", { uri: "records://patients/43" }, auth.authInfo).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).message).toContain("read:records:patient-43");
    expect((refused as McpError).data).toMatchObject({ code: "insufficient_scope", scope: ["read:records:patient-43"] });
    await expect(call("prompts/get", { name: "summarize_patient", arguments: { patientId: "42" } }, auth.authInfo)).resolves.toMatchObject({ messages: [{}] });
    await expect(call("prompts/get", { name: "summarize_patient", arguments: { patientId: "43" } }, auth.authInfo)).rejects.toBeInstanceOf(McpError);
    await expect(call("prompts/get", { name: "summarize_patient", arguments: { patientId: "42" } }, undefined)).rejects.toMatchObject({ data: { code: "missing_token" } });
    const bad = await call("resources/read", { uri: "records://patients/%2A" }, auth.authInfo).catch((e: unknown) => e);
    expect((bad as McpError).code).toBe(-32602);
    expect(runs).toEqual(["resource:42", "prompt:42"]);
    expect(() => gate.wrapResource("records://nope", () => ({ contents: [] }))).toThrow(TypeError);
    expect(() => gate.wrapPrompt("nope", () => ({ messages: [] }))).toThrow(TypeError);
  });
});

describe("startup audit", () => {
  it("warns once through the logger for each registered tool, resource or prompt without an entry", () => {
    const lines: [string, object, string | undefined][] = [];
    const logger: GuardLogger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (obj, msg) => void lines.push(["warn", obj, msg]),
      error: (obj, msg) => void lines.push(["error", obj, msg]),
    };
    const audited = createMcpGate({ guard: gate.guard, tools: { get_patient_record: "read:records:patient-{patientId}" }, resources: MAPS.resources, logger });
    buildServer(audited);
    buildServer(audited);
    expect(lines.map(([level, , msg]) => [level, msg])).toEqual([
      ["warn", 'agentwrit: tool "whoami" has no entry in the gate\'s tools map: every request for it is refused (unlistedTools: "deny")'],
      ["warn", 'agentwrit: prompt "summarize_patient" has no entry in the gate\'s prompts map: every request for it is refused (unlistedPrompts: "deny")'],
      ["warn", 'agentwrit: resource "records://secret" has no entry in the gate\'s resources map: every request for it is refused (unlistedResources: "deny")'],
    ]);
    const server = new McpServer({ name: "x", version: "0" });
    server.registerTool("open", {}, () => ({ content: [] }));
    const open = createMcpGate({ guard: gate.guard, tools: { whoami: ANY_AGENT }, unlistedTools: "allow", logger });
    expect(open.audit(server)).toEqual({ tools: ["open"], prompts: [], resources: [], resourceTemplates: [] });
    expect(lines.at(-1)?.[2]).toContain('any authenticated agent may use it (unlistedTools: "allow")');
  });
});
