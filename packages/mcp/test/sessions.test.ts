/**
 * Session binding in stateful Streamable HTTP: two agents (tokens from the dev broker) through
 * the SDK's own Client, on Express, Hono and fetch. Agent B with agent A's Mcp-Session-Id gets
 * exactly what an unknown session gets (404); only A may DELETE it; memory stays bounded.
 */
import type { DevBroker } from "@agentwrit/dev-broker";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createMcpGate, sessionNotFoundResponse, toWebResponse, type McpGate } from "../src/index.js";
import { createSessions } from "../src/sessions.js";
import { listen, MAPS, type AdapterName, type Listening } from "./fixtures.js";
import { broker, RESOURCE } from "./support.js";

let b: DevBroker;
let alice: string;
let bob: string;
let aliceAgain: string;
/** A token for Alice's agent id and task_id, delegated by Mallory, who holds it: not Alice's. */
let delegatedToAlice: string;

beforeAll(async () => {
  b = await broker();
  const a = await b.createAgent({ orchId: "o", taskId: "alice", scope: ["read:records:patient-42"] });
  alice = a.accessToken;
  // Alice's SPIFFE ID names her task; any app may name a task so. Delegated tokens carry the delegator's task_id.
  const mallory = await b.createAgent({ orchId: "elsewhere", taskId: "alice", scope: ["read:records:patient-42"] });
  delegatedToAlice = (await b.delegate(mallory.accessToken, { delegateTo: a.agentId, scope: ["read:records:patient-42"] })).accessToken;
  // Same agent and task, another token (as after a renewal): still the owner.
  aliceAgain = (await b.renew(alice)).accessToken;
  bob = (await b.createAgent({ orchId: "o", taskId: "bob", scope: ["read:records:patient-42"] })).accessToken;
});
afterAll(async () => {
  await b.close();
});

function transport(url: string, token: string, sessionId?: string): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, ...(sessionId === undefined ? {} : { sessionId }) });
}

async function connect(url: string, token: string, sessionId?: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "t", version: "0" });
  const t = transport(url, token, sessionId);
  await client.connect(t);
  return { client, transport: t };
}

async function failure(p: Promise<unknown>): Promise<number | undefined> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  return e instanceof StreamableHTTPError ? e.code : undefined;
}

/** A raw request on a session, to compare answers byte for byte. */
async function raw(url: string, token: string, method: string, sessionId: string, body?: unknown): Promise<{ status: number; body: string; contentType: string | null }> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      "mcp-session-id": sessionId,
      "mcp-protocol-version": "2025-06-18",
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.text(), contentType: res.headers.get("content-type") };
}

describe.each(["express", "hono", "fetch"] as const)("stateful Streamable HTTP on %s", (name: AdapterName) => {
  let gate: McpGate;
  let server: Listening;
  beforeAll(async () => {
    gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, ...MAPS });
    server = await listen(name, gate, true);
  });
  afterAll(async () => {
    await server.close();
  });

  it("binds the session to the agent that initialized it", async () => {
    const a = await connect(server.url, alice);
    try {
      const sid = a.transport.sessionId;
      expect(sid).toMatch(/^[0-9a-f-]{36}$/);
      expect(gate.sessions.size).toBe(1);
      expect(JSON.stringify(await a.client.callTool({ name: "get_patient_record", arguments: { patientId: "42" } }))).toContain("record 42");

      // Bob, with a token as good as Alice's, on Alice's session: answered as an unknown session.
      const bobOnA = await connect(server.url, bob, sid);
      expect(await failure(bobOnA.client.callTool({ name: "whoami", arguments: {} }))).toBe(404);
      expect(await failure(bobOnA.client.listTools())).toBe(404);
      const call = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "whoami", arguments: {} } };
      const foreign = await raw(server.url, bob, "POST", sid!, call);
      const unknown = await raw(server.url, bob, "POST", crypto.randomUUID(), call);
      expect(foreign).toEqual(unknown);
      expect(foreign.status).toBe(404);
      expect(JSON.parse(foreign.body)).toEqual({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null });
      expect((await raw(server.url, bob, "GET", sid!)).status).toBe(404);

      // Only the owner may end it: Bob's DELETE is a 404 and changes nothing.
      expect(await failure(bobOnA.transport.terminateSession())).toBe(404);
      expect((await raw(server.url, bob, "DELETE", sid!)).status).toBe(404);
      expect(server.sessions()).toBe(1);
      expect(JSON.stringify(await a.client.callTool({ name: "whoami", arguments: {} }))).toContain("spiffe://");

      // A token delegated to Alice's agent id by another agent with her task_id is held by that
      // agent, not by Alice: answered as an unknown session too.
      const delegated = await raw(server.url, delegatedToAlice, "POST", sid!, call);
      expect([delegated.status, delegated.body]).toEqual([404, unknown.body]);
      expect((await raw(server.url, delegatedToAlice, "GET", sid!)).status).toBe(404);

      // Alice's renewed token (same agent and task) still owns it.
      const again = await connect(server.url, aliceAgain, sid);
      expect(JSON.stringify(await again.client.callTool({ name: "whoami", arguments: {} }))).toContain("spiffe://");

      await a.transport.terminateSession();
      expect(gate.sessions.size).toBe(0);
      expect(server.sessions()).toBe(0);
      expect(await failure(again.client.callTool({ name: "whoami", arguments: {} }))).toBe(404);
    } finally {
      await a.client.close();
    }
  });

  it("keeps two agents' sessions apart", async () => {
    const a = await connect(server.url, alice);
    const c = await connect(server.url, bob);
    try {
      expect(a.transport.sessionId).not.toBe(c.transport.sessionId);
      expect(gate.sessions.owns(a.transport.sessionId!, await gate.guard.authenticate(`Bearer ${alice}`))).toBe(true);
      expect(gate.sessions.owns(a.transport.sessionId!, await gate.guard.authenticate(`Bearer ${bob}`))).toBe(false);
      expect(JSON.stringify(await c.client.callTool({ name: "whoami", arguments: {} }))).toContain("/bob/");
      expect(JSON.stringify(await a.client.callTool({ name: "whoami", arguments: {} }))).toContain("/alice/");
    } finally {
      await a.transport.terminateSession();
      await c.transport.terminateSession();
      await a.client.close();
      await c.client.close();
    }
    expect(gate.sessions.size).toBe(0);
  });
});

describe("the 404", () => {
  it("is the SDK transport's own answer to an unknown session, status, headers and body", async () => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => crypto.randomUUID() });
    const server = new McpServer({ name: "t", version: "0" });
    await server.connect(transport);
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const init = await transport.handleRequest(
      new Request(RESOURCE, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } } }) }),
    );
    expect(init.status).toBe(200);
    const sdk = await transport.handleRequest(new Request(RESOURCE, { method: "POST", headers: { ...headers, "mcp-session-id": "not-it" }, body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }) }));
    const ours = toWebResponse(sessionNotFoundResponse());
    expect(ours.status).toBe(sdk.status);
    expect([...ours.headers]).toEqual([...sdk.headers]);
    expect(await ours.text()).toBe(await sdk.text());
    await server.close();
  });

  it("comes from check() and checkRequest() for an id the agent does not own", async () => {
    const gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, ...MAPS });
    const identity = await gate.guard.authenticate(`Bearer ${alice}`);
    expect(gate.sessions.bind("s-alice", identity)).toBe(true);
    const body = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    expect((await gate.check(`Bearer ${alice}`, body, "POST", "s-alice")).ok).toBe(true);
    const foreign = await gate.check(`Bearer ${bob}`, body, "POST", "s-alice");
    expect(foreign.ok ? 200 : foreign.response.status).toBe(404);
    expect((await gate.check(`Bearer ${bob}`, body, "POST", "s-unknown")).ok).toBe(false);
    expect((await gate.check(`Bearer ${bob}`, body, "POST", null)).ok).toBe(true);
    const request = (token: string): Request => new Request(RESOURCE, { method: "DELETE", headers: { authorization: `Bearer ${token}`, "mcp-session-id": "s-alice" } });
    const r = await gate.checkRequest(request(bob));
    expect(r.ok ? 200 : r.response.status).toBe(404);
    const owner = await gate.checkRequest(request(alice));
    if (!owner.ok) throw new Error("owner refused");
    gate.sessions.observe(owner, 200, null);
    expect(gate.sessions.size).toBe(0);
  });
});

describe("bounded memory", () => {
  it("forgets the least recently used session beyond maxSessions (its owner must initialize again)", async () => {
    const gate = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, ...MAPS, maxSessions: 2 });
    const server = await listen("hono", gate, true);
    try {
      const first = await connect(server.url, alice);
      const second = await connect(server.url, alice);
      // A use makes the first the most recent: the second is forgotten next.
      await first.client.listTools();
      const third = await connect(server.url, bob);
      expect(gate.sessions.size).toBe(2);
      expect(await failure(second.client.listTools())).toBe(404);
      await first.client.listTools();
      await third.client.listTools();
      for (const c of [first, second, third]) await c.client.close();
    } finally {
      await server.close();
    }
  });

  it("ends an entry with its session: on DELETE, onsessionclosed, or the transport closing", () => {
    const sessions = createSessions(10);
    const owner = { agentId: "spiffe://agentwrit.local/agent/o/t/1", taskId: "t" } as Parameters<typeof sessions.bind>[1];
    expect(sessions.bind("s-1", owner)).toBe(true);
    expect(sessions.bind("s-1", { ...owner, agentId: "spiffe://agentwrit.local/agent/o/t/2" })).toBe(false);
    expect(sessions.bind("bad id", owner)).toBe(false);
    expect(sessions.bind("x".repeat(257), owner)).toBe(false);
    const closing: { sessionId?: string; onclose?: () => void } = { sessionId: "s-1" };
    let previous = 0;
    closing.onclose = () => {
      previous++;
    };
    sessions.track(closing);
    closing.onclose();
    expect(sessions.size).toBe(0);
    expect(previous).toBe(1);
    sessions.bind("s-2", owner);
    sessions.end("s-2");
    expect(sessions.size).toBe(0);
    sessions.bind("s-3", owner);
    sessions.observe({ identity: owner as never, session: { id: "s-3", initialize: false, method: "DELETE" } }, 404, null);
    expect(sessions.size).toBe(1);
    sessions.observe({ identity: owner as never, session: { id: "s-3", initialize: false, method: "DELETE" } }, 200, null);
    expect(sessions.size).toBe(0);
    sessions.observe({ identity: owner as never, session: { id: undefined, initialize: true, method: "POST" } }, 400, "s-4");
    expect(sessions.size).toBe(0);
  });
});
