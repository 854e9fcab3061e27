/**
 * MCP seams: the gate of @agentwrit/guard-mcp on every MCP adapter (Express middleware, Hono
 * middleware, the fetch form), each on a real listener on 127.0.0.1 in front of the MCP SDK's own
 * transports, with tokens from the dev broker. Hostile bodies (over the cap, declared or not,
 * trickled, cut off, reset), oversized batches and arguments (work counted through decision
 * events, never timed), stateful sessions used by another agent, and resources, prompts and
 * completion per patient. After each hostile request a normal one must succeed. No log line the
 * gate or guard writes may carry token text.
 */
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createGuard, type DecisionEvent, type GuardLogger } from "@agentwrit/guard";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMcpGate, type McpGate } from "../../packages/mcp/src/index.js";
import { listen, MAPS, type AdapterName, type Listening } from "../../packages/mcp/test/fixtures.js";
import { head, rawRequest } from "../../packages/mcp/test/raw-http.js";
import { Report } from "./report.js";

const RESOURCE = "https://mcp.example/mcp";
const METADATA_URL = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
const ADAPTERS: readonly AdapterName[] = ["express", "hono", "fetch"];
const MAX_BODY = 64 * 1024;

const report = new Report();
const events: DecisionEvent[] = [];
const logLines: string[] = [];
let b: DevBroker;
let reader: string;
let other: string;
let wide: string;
/** Delegated to the reader's agent id by another agent whose task_id is the reader's: held by that agent. */
let delegatedToReader: string;
let gate: McpGate;
const stateless = new Map<AdapterName, Listening>();
const stateful = new Map<AdapterName, Listening>();
/** Listeners whose gate keeps the default 4 MiB body cap (the SDK's own). */
const fullSize = new Map<AdapterName, Listening>();

const capture = (level: string) => (obj: object, msg?: string): void => {
  logLines.push(`${level} ${msg ?? ""} ${JSON.stringify(obj)}`);
};
const logger: GuardLogger = { debug: capture("debug"), info: capture("info"), warn: capture("warn"), error: capture("error") };

beforeAll(async () => {
  b = await startDevBroker({ audience: RESOURCE });
  const readerAgent = await b.createAgent({ orchId: "clinic", taskId: "reader", scope: ["read:records:patient-42"] });
  reader = readerAgent.accessToken;
  const mallory = await b.createAgent({ orchId: "elsewhere", taskId: "reader", scope: ["read:records:patient-42"] });
  delegatedToReader = (await b.delegate(mallory.accessToken, { delegateTo: readerAgent.agentId, scope: ["read:records:patient-42"] })).accessToken;
  other = (await b.createAgent({ orchId: "clinic", taskId: "other", scope: ["read:records:patient-42"] })).accessToken;
  wide = (await b.createAgent({ orchId: "clinic", taskId: "wide", scope: ["read:invoices:x"] })).accessToken;
  const guard = createGuard({ publicKey: b.publicKeyPem, audience: RESOURCE, resourceMetadataUrl: METADATA_URL, logger, onDecision: (e) => void events.push(e) });
  gate = createMcpGate({
    guard,
    resource: RESOURCE,
    ...MAPS,
    tools: { ...MAPS.tools, r: "read:records:patient-{p}", many: Array.from({ length: 40 }, (_, i) => `read:records:patient-{patientId}-${String(i)}`) },
    maxBodyBytes: MAX_BODY,
    bodyTimeoutMs: 400,
  });
  const defaults = createMcpGate({ guard, resource: RESOURCE, ...MAPS, tools: { ...MAPS.tools, r: "read:records:patient-{p}" } });
  for (const name of ADAPTERS) {
    stateless.set(name, await listen(name, gate, false));
    stateful.set(name, await listen(name, gate, true));
    fullSize.set(name, await listen(name, defaults, false));
  }
});

afterAll(async () => {
  await Promise.all([...stateless.values(), ...stateful.values(), ...fullSize.values()].map((s) => s.close()));
  await b.close();
  const tally = report.get("MCP: no token text in log lines");
  for (const token of [reader, other, wide, delegatedToReader]) tally.check("no log line carries a token or its signature", !logLines.some((l) => l.includes(token) || l.includes(token.split(".")[2] ?? "")));
  tally.figure("log lines read", logLines.length);
  report.write();
  expect(tally.failures).toEqual([]);
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly www: string | null;
}

let nextId = 1;
const rpc = (method: string, params?: Record<string, unknown>): Record<string, unknown> => ({ jsonrpc: "2.0", id: nextId++, method, ...(params === undefined ? {} : { params }) });

async function post(url: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: headers["x-method"] ?? "POST",
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : body instanceof Uint8Array ? Buffer.from(body) : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // 202 and empty bodies
  }
  return { status: res.status, body: parsed, www: res.headers.get("www-authenticate") };
}

const errorCode = (a: Answer): unknown => (a.body.error as { code?: unknown } | undefined)?.code ?? a.body.code;
const scopeOf = (a: Answer): string | undefined => /scope="([^"]*)"/.exec(a.www ?? "")?.[1];

/** The normal request that must succeed after every hostile one. */
async function serving(url: string): Promise<boolean> {
  const a = await post(url, reader, rpc("tools/call", { name: "get_patient_record", arguments: { patientId: "42" } }));
  return a.status === 200 && JSON.stringify(a.body).includes("record 42");
}

/** Runs `cases` on every adapter; each case returns whether it held. */
async function run(category: string, servers: Map<AdapterName, Listening>, cases: readonly [string, (s: Listening) => Promise<boolean>][]): Promise<void> {
  const tally = report.get(category);
  for (const name of ADAPTERS) {
    const server = servers.get(name)!;
    for (const [label, test] of cases) {
      let held: boolean;
      try {
        held = (await test(server)) && (await serving(stateless.get(name)!.url));
      } catch {
        held = false;
      }
      tally.check(`${name}: ${label}`, held);
    }
  }
  expect(tally.failures).toEqual([]);
}

describe("MCP gate seams on Express, Hono and fetch", () => {
  it("hostile bodies: answered once, the server keeps serving", async () => {
    const auth = (extra: Record<string, string | number> = {}): Record<string, string | number> => ({ authorization: `Bearer ${reader}`, "content-type": "application/json", ...extra });
    const chunk = (s: string): string => `${s.length.toString(16)}\r\n${s}\r\n`;
    await run("MCP: hostile bodies", stateless, [
      ["body over maxBodyBytes, no declared length (fetch client)", async (s) => {
        const a = await post(s.url, reader, JSON.stringify(rpc("tools/call", { name: "get_patient_record", arguments: { patientId: "4".repeat(256 * 1024) } }))).catch(() => undefined);
        return a === undefined || a.status === 413;
      }],
      ["declared Content-Length of 10 MB: 413 without reading", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": 10_000_000 })), chunks: ["{"] });
        return r.status === 413 && r.responses === 1;
      }],
      ["chunked body past the cap: 413 once", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "transfer-encoding": "chunked" })), chunks: Array.from({ length: 80 }, () => chunk("x".repeat(1024))), gapMs: 1 });
        return r.status === 413 && r.responses === 1;
      }],
      ["twenty oversized bodies at once", async (s) => {
        const all = await Promise.all(Array.from({ length: 20 }, () => rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": MAX_BODY + 1 })), chunks: ["x".repeat(MAX_BODY + 1)] })));
        return all.every((r) => r.status === 413 && r.responses === 1);
      }],
      ["trickled body: 408 after bodyTimeoutMs", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": 500 })), chunks: Array.from({ length: 30 }, () => "x"), gapMs: 30 });
        return r.status === 408 && r.responses === 1;
      }],
      ["body cut off by the client", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": 1000 })), chunks: ['{"jsonrpc":"2.0"'], then: "destroy" });
        return r.responses <= 1;
      }],
      ["connection reset mid-body", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": 1000 })), chunks: ['{"jsonrpc":"2.0"'], then: "reset" });
        return r.responses <= 1;
      }],
      ["body truncated by a half-close", async (s) => {
        const r = await rawRequest({ port: s.port, head: head("POST", "/mcp", auth({ "content-length": 1000 })), chunks: ['{"jsonrpc":"2.0"'], then: "half-close", timeoutMs: 2000 });
        return r.responses <= 1 && (r.status === undefined || r.status === 400);
      }],
      ["invalid JSON: 400 parse error", async (s) => {
        const a = await post(s.url, reader, "{nope");
        return a.status === 400 && errorCode(a) === -32700;
      }],
      ["invalid UTF-8: 400", async (s) => {
        const a = await post(s.url, reader, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
        return a.status === 400;
      }],
      ["a JSON-RPC body that is not an object: 400 invalid request", async (s) => {
        const a = await post(s.url, reader, [1, 2]);
        return a.status === 400 && errorCode(a) === -32600;
      }],
    ]);
  });

  it("batches and arguments: bounded before any per-call work", async () => {
    const authorizeEvents = (from: number): DecisionEvent[] => events.slice(from).filter((e) => e.phase === "authorize");
    const tally = report.get("MCP: batches and limits");
    let figure = "";
    await run("MCP: batches and limits", stateless, [
      ["4 MiB batch of 60,000 tools/call under the 4 MiB cap: 400, no call decided", async (s) => {
        // Terse messages (a notification needs no id) so that 60,000 fit under 4 MiB.
        const batch = JSON.stringify(Array.from({ length: 60_000 }, () => ({ method: "tools/call", params: { name: "r", arguments: { p: "4" } } })));
        if (batch.length > 4 * 2 ** 20) return false;
        const before = events.length;
        const full = fullSize.get(ADAPTERS.find((n) => stateless.get(n) === s)!)!;
        const a = await post(full.url, reader, batch);
        // The same body over the 64 KiB listeners: 413, unread.
        const capped = await post(s.url, reader, batch).catch(() => undefined);
        figure = `${String(authorizeEvents(before).length)} decisions for a ${(batch.length / 2 ** 20).toFixed(1)} MiB batch of 60,000 calls`;
        return a.status === 400 && errorCode(a) === -32600 && (capped === undefined || capped.status === 413) && authorizeEvents(before).length === 0;
      }],
      ["101 messages: 400 invalid request; 100 are checked", async (s) => {
        const call = (): Record<string, unknown> => rpc("tools/call", { name: "get_patient_record", arguments: { patientId: "42" } });
        const over = await post(s.url, reader, Array.from({ length: 101 }, call));
        const ok = await post(s.url, reader, Array.from({ length: 100 }, call));
        return over.status === 400 && errorCode(over) === -32600 && ok.status === 200;
      }],
      ["100 refused calls: one 403, one decision", async (s) => {
        const before = events.length;
        const a = await post(s.url, reader, Array.from({ length: 100 }, (_, i) => rpc("tools/call", { name: "get_patient_record", arguments: { patientId: String(100 + i) } })));
        return a.status === 403 && authorizeEvents(before).length === 1 && a.body.missing_count === 100;
      }],
      ["a 32 KiB argument: 400 before any scope work", async (s) => {
        const before = events.length;
        const a = await post(s.url, reader, [
          rpc("tools/call", { name: "get_patient_record", arguments: { patientId: "42" } }),
          rpc("tools/call", { name: "get_patient_record", arguments: { patientId: "4".repeat(32 * 1024) } }),
        ]);
        const decided = authorizeEvents(before);
        return a.status === 400 && a.body.code === "invalid_parameter" && decided.length === 1 && decided[0]?.outcome === "deny";
      }],
      ["40 missing scopes: a challenge Node's HTTP client parses, under 4 KiB, naming at most 16", async (s) => {
        const a = await post(s.url, reader, rpc("tools/call", { name: "many", arguments: { patientId: "7".repeat(250) } }));
        const named = scopeOf(a)?.split(" ") ?? [];
        return a.status === 403 && (a.www?.length ?? 99999) < 4096 && named.length > 0 && named.length <= 16 && a.body.missing_count === 40;
      }],
      ["empty batch: 400", async (s) => (await post(s.url, reader, [])).status === 400],
    ]);
    tally.figure("work", figure);
  });

  it("sessions: another agent's token on a session is answered as an unknown session", async () => {
    await run("MCP: sessions", stateful, [
      ["another agent's POST, GET and DELETE on the session: 404, as for an unknown id", async (s) => {
        const sid = await initialize(s.url, reader);
        const headers = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
        const call = rpc("tools/call", { name: "whoami", arguments: {} });
        const foreign = await post(s.url, other, call, headers);
        const unknown = await post(s.url, other, call, { ...headers, "mcp-session-id": crypto.randomUUID() });
        const get = await post(s.url, other, undefined, { ...headers, "x-method": "GET" });
        const del = await post(s.url, other, undefined, { ...headers, "x-method": "DELETE" });
        const owner = await post(s.url, reader, call, headers);
        const gone = await post(s.url, reader, undefined, { ...headers, "x-method": "DELETE" });
        const after = await post(s.url, reader, call, headers);
        return (
          foreign.status === 404 &&
          JSON.stringify(foreign.body) === JSON.stringify(unknown.body) &&
          errorCode(foreign) === -32001 &&
          get.status === 404 &&
          del.status === 404 &&
          owner.status === 200 &&
          gone.status === 200 &&
          after.status === 404
        );
      }],
      ["a token delegated to the owner's agent id by another agent with the owner's task_id: 404", async (s) => {
        const sid = await initialize(s.url, reader);
        const headers = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
        const call = rpc("tools/call", { name: "whoami", arguments: {} });
        const delegated = await post(s.url, delegatedToReader, call, headers);
        const get = await post(s.url, delegatedToReader, undefined, { ...headers, "x-method": "GET" });
        const owner = await post(s.url, reader, call, headers);
        await post(s.url, reader, undefined, { ...headers, "x-method": "DELETE" });
        return delegated.status === 404 && errorCode(delegated) === -32001 && get.status === 404 && owner.status === 200;
      }],
      ["no token on a live session: 401 before anything about the session", async (s) => {
        const sid = await initialize(s.url, reader);
        const a = await post(s.url, undefined, rpc("tools/list"), { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" });
        await post(s.url, reader, undefined, { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18", "x-method": "DELETE" });
        return a.status === 401 && (a.www ?? "").includes("resource_metadata");
      }],
      ["a session id of 4 KiB or with several values: 404", async (s) => {
        const sid = await initialize(s.url, reader);
        const long = await post(s.url, reader, rpc("tools/list"), { "mcp-session-id": "x".repeat(4096), "mcp-protocol-version": "2025-06-18" });
        const two = await post(s.url, reader, rpc("tools/list"), { "mcp-session-id": `${sid}, ${sid}`, "mcp-protocol-version": "2025-06-18" });
        await post(s.url, reader, undefined, { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18", "x-method": "DELETE" });
        return long.status === 404 && two.status === 404;
      }],
    ]);
    report.get("MCP: sessions").figure("bound after the run", gate.sessions.size);
  });

  it("resources, prompts and completion: per patient, deny by default, before dispatch", async () => {
    const read = (uri: string): Record<string, unknown> => rpc("resources/read", { uri });
    await run("MCP: resources and prompts", stateless, [
      ["resources/read of the agent's patient: 200", async (s) => (await post(s.url, reader, read("records://patients/42"))).status === 200],
      ["resources/read of another patient: 403 naming its scope", async (s) => scopeOf(await post(s.url, reader, read("records://patients/43"))) === "read:records:patient-43"],
      ["resources/subscribe of another patient: 403", async (s) => (await post(s.url, reader, rpc("resources/subscribe", { uri: "records://patients/43" }))).status === 403],
      ["dot segments (to another patient, or back to its own): 400, never resolved", async (s) =>
        (await post(s.url, reader, read("records://patients/42/../43"))).status === 400 && (await post(s.url, reader, read("records://patients/43/../42"))).status === 400],
      ["%2A (a wildcard once decoded): 400", async (s) => (await post(s.url, reader, read("records://patients/%2A"))).body.code === "invalid_parameter"],
      ["%252A (encoded twice): 400", async (s) => (await post(s.url, reader, read("records://patients/%252A"))).body.code === "invalid_parameter"],
      ["a URI matching no entry: 403 without scope", async (s) => {
        const a = await post(s.url, reader, read("records://secret"));
        return a.status === 403 && scopeOf(a) === undefined;
      }],
      ["a malformed URI: 400 invalid request", async (s) => errorCode(await post(s.url, reader, read("::"))) === -32600],
      ["prompts/get for the agent's patient: 200", async (s) => (await post(s.url, reader, rpc("prompts/get", { name: "summarize_patient", arguments: { patientId: "42" } }))).status === 200],
      ["prompts/get for another patient: 403", async (s) => scopeOf(await post(s.url, reader, rpc("prompts/get", { name: "summarize_patient", arguments: { patientId: "43" } }))) === "read:records:patient-43"],
      ["prompts/get without the bound argument: 400", async (s) => (await post(s.url, reader, rpc("prompts/get", { name: "summarize_patient" }))).body.code === "invalid_parameter"],
      ["an unlisted prompt: 403", async (s) => (await post(s.url, reader, rpc("prompts/get", { name: "dump" }))).status === 403],
      ["completion by an agent that could use the prompt: 200, suggesting only its own patients", async (s) => {
        const a = await post(s.url, reader, rpc("completion/complete", { ref: { type: "ref/prompt", name: "summarize_patient" }, argument: { name: "patientId", value: "4" } }));
        const values = (a.body.result as { completion?: { values?: unknown } } | undefined)?.completion?.values;
        return a.status === 200 && JSON.stringify(values) === JSON.stringify(["42"]);
      }],
      ["completion told another patient (context.arguments): 403 before the completer runs", async (s) => {
        const a = await post(s.url, reader, rpc("completion/complete", { ref: { type: "ref/prompt", name: "summarize_patient" }, argument: { name: "patientId", value: "4" }, context: { arguments: { patientId: "43" } } }));
        return a.status === 403 && scopeOf(a) === "read:records:patient-43";
      }],
      ["completion by an agent that could not: 403", async (s) =>
        (await post(s.url, wide, rpc("completion/complete", { ref: { type: "ref/resource", uri: "records://patients/{patientId}" }, argument: { name: "patientId", value: "4" } }))).status === 403],
      ["resources/list shows only the agent's patients", async (s) => {
        const a = await post(s.url, reader, rpc("resources/list"));
        const uris = ((a.body.result as { resources?: { uri: string }[] } | undefined)?.resources ?? []).map((r) => r.uri).sort();
        return JSON.stringify(uris) === JSON.stringify(["records://index", "records://patients/42"]);
      }],
      ["a gated call as a notification (no id): still checked", async (s) => {
        const a = await post(s.url, reader, { jsonrpc: "2.0", method: "resources/read", params: { uri: "records://patients/43" } });
        return a.status === 403;
      }],
    ]);
  });
});

/** Initializes a stateful session as an MCP client would; returns its id. */
async function initialize(url: string, token: string): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify(rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "seams", version: "0" } })),
  });
  await res.text();
  const sid = res.headers.get("mcp-session-id");
  if (res.status !== 200 || sid === null) throw new Error(`initialize answered ${String(res.status)}`);
  const done = await post(url, token, { jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" });
  if (done.status !== 202) throw new Error(`notifications/initialized answered ${String(done.status)}`);
  return sid;
}
