/**
 * End to end: the example records server on 127.0.0.1, tokens from the dev broker, and the SDK's
 * own Client over Streamable HTTP.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevBroker } from "@agentwrit/dev-broker";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createRecordsServer, type ToolRun } from "../../../examples/mcp-records/src/records.js";
import { rawRequest } from "./raw-http.js";
import { broker, challenge } from "./support.js";

interface Seen {
  readonly status: number;
  readonly wwwAuthenticate: string | null;
}

let b: DevBroker;
let resource: string;
let metadataUrl: string;
const servers: Server[] = [];
const runs: ToolRun[] = [];
const seen: Seen[] = [];

/** Connects the SDK client with a bearer token, recording every HTTP status and challenge. */
async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "test", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      seen.push({ status: res.status, wwwAuthenticate: res.headers.get("www-authenticate") });
      return res;
    },
  });
  await client.connect(transport);
  return client;
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; challenge: Record<string, string> }> {
  const before = seen.length;
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StreamableHTTPError);
  const last = seen.slice(before).at(-1)!;
  expect((e as StreamableHTTPError).code).toBe(last.status);
  return { status: last.status, challenge: challenge(last.wwwAuthenticate) };
}

let url: string;
let readerToken: string;
let readerId: string;

beforeAll(async () => {
  // The server's URI (with its port) is its audience, so listen first, then start the broker.
  const http = createServer();
  servers.push(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = String((http.address() as AddressInfo).port);
  resource = `http://127.0.0.1:${port}/mcp`;
  metadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
  b = await broker({ audience: resource });
  const records = createRecordsServer({
    // Key and broker URL: hybrid mode (signature and chain checked locally, then the broker asked).
    guard: { brokerUrl: b.url, publicKey: b.publicKeyPem, resource },
    resource,
    onToolRun: (run) => runs.push(run),
  });
  expect(records.gate.guard.mode).toBe("hybrid");
  http.on("request", records.app);
  url = resource;
  const reader = await b.createAgent({ orchId: "clinic", taskId: "reader", scope: ["read:records:patient-42"] });
  readerToken = reader.accessToken;
  readerId = reader.agentId;
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await b.close();
});

beforeEach(() => {
  runs.length = 0;
  seen.length = 0;
});

describe("records server over Streamable HTTP", () => {
  it("serves RFC 9728 metadata at the path-aware and root well-known URLs", async () => {
    for (const u of [metadataUrl, new URL("/.well-known/oauth-protected-resource", resource).href]) {
      const res = await fetch(u);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ resource, bearer_methods_supported: ["header"] });
    }
  });

  it("lets the patient-42 agent read patient 42 and see only the tools it can call", async () => {
    const client = await connect(url, readerToken);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["get_patient_record", "list_my_patients"]);
      const result = await client.callTool({ name: "get_patient_record", arguments: { patientId: "42" } });
      expect(result.isError).toBeFalsy();
      expect(JSON.stringify(result.content)).toContain("Ada Example");
      const mine = await client.callTool({ name: "list_my_patients", arguments: {} });
      expect(JSON.parse((mine.content as { text: string }[])[0]!.text)).toEqual([{ id: "42", name: "Ada Example" }]);
      expect(runs.map((r) => [r.tool, r.agentId])).toEqual([
        ["get_patient_record", readerId],
        ["list_my_patients", readerId],
      ]);
    } finally {
      await client.close();
    }
  });

  it("refuses patient 43 with a 403 challenge naming read:records:patient-43, before the tool runs", async () => {
    const client = await connect(url, readerToken);
    try {
      const r = await refusal(client.callTool({ name: "get_patient_record", arguments: { patientId: "43" } }));
      expect(r.status).toBe(403);
      expect(r.challenge).toEqual({
        error: "insufficient_scope",
        error_description: "The token does not grant the scope this request needs.",
        scope: "read:records:patient-43",
        resource_metadata: metadataUrl,
      });
      expect(runs).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("serves the patient resource and prompt per patient, and lists only the agent's patients", async () => {
    const client = await connect(url, readerToken);
    try {
      expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(["records://patients/42"]);
      expect((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toEqual(["records://patients/{patientId}"]);
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["summarize_patient"]);
      const record = await client.readResource({ uri: "records://patients/42" });
      expect(JSON.parse((record.contents[0] as { text: string }).text)).toMatchObject({ id: "42", name: "Ada Example" });
      const prompt = await client.getPrompt({ name: "summarize_patient", arguments: { patientId: "42" } });
      expect(JSON.stringify(prompt.messages)).toContain("Ada Example");
      const completion = await client.complete({ ref: { type: "ref/resource", uri: "records://patients/{patientId}" }, argument: { name: "patientId", value: "4" } });
      // The completer offers every patient; the agent is shown only the ones it may read.
      expect(completion.completion.values).toEqual(["42"]);
      const resource = await refusal(client.readResource({ uri: "records://patients/43" }));
      expect(resource.status).toBe(403);
      expect(resource.challenge.scope).toBe("read:records:patient-43");
      const denied = await refusal(client.getPrompt({ name: "summarize_patient", arguments: { patientId: "43" } }));
      expect(denied.challenge).toMatchObject({ error: "insufficient_scope", scope: "read:records:patient-43", resource_metadata: metadataUrl });
      expect(runs.map((r) => [r.kind, r.tool, r.args])).toEqual([
        ["resource", "records://patients/{patientId}", { patientId: "42" }],
        ["prompt", "summarize_patient", { patientId: "42" }],
      ]);
    } finally {
      await client.close();
    }
  });

  it("refuses write_prescription without the write scope", async () => {
    const client = await connect(url, readerToken);
    try {
      const r = await refusal(client.callTool({ name: "write_prescription", arguments: { patientId: "42", drug: "ibuprofen" } }));
      expect(r.status).toBe(403);
      expect(r.challenge.scope).toBe("write:prescriptions:patient-42");
      expect(runs).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("accepts a token delegated by an agent holding the write scope, with its chain verified", async () => {
    const prescriber = await b.createAgent({
      orchId: "clinic",
      taskId: "prescriber",
      scope: ["read:records:patient-42", "write:prescriptions:patient-42"],
    });
    const delegated = await b.delegate(prescriber.accessToken, {
      delegateTo: readerId,
      scope: ["read:records:patient-42", "write:prescriptions:patient-42"],
    });
    const client = await connect(url, delegated.accessToken);
    try {
      const result = await client.callTool({ name: "write_prescription", arguments: { patientId: "42", drug: "ibuprofen" } });
      expect(result.isError).toBeFalsy();
      expect(JSON.parse((result.content as { text: string }[])[0]!.text)).toMatchObject({ patientId: "42", drug: "ibuprofen", delegationDepth: 1 });
      const run = runs.find((r) => r.tool === "write_prescription")!;
      const identity = run.identity!;
      expect(identity.agentId).toBe(readerId);
      expect(identity.delegationDepth).toBe(1);
      expect(identity.delegationChain[0]!.agent).toBe(prescriber.agentId);
      expect(identity.chainHash).toMatch(/^[0-9a-f]{64}$/);
      // Hybrid: verified locally with the broker's key (signature, chain hash and record
      // signatures), then confirmed by the broker.
      expect(identity.source).toBe("broker");
      // The delegated token still does not reach other patients.
      const r = await refusal(client.callTool({ name: "write_prescription", arguments: { patientId: "43", drug: "x" } }));
      expect(r.challenge.scope).toBe("read:records:patient-43 write:prescriptions:patient-43");
    } finally {
      await client.close();
    }
    await b.release(delegated.accessToken);
    await b.release(readerToken);
    // After release every request is a 401 with resource_metadata.
    for (const token of [delegated.accessToken, readerToken]) {
      const r = await refusal(connect(url, token));
      expect(r.status).toBe(401);
      expect(r.challenge).toMatchObject({ error: "invalid_token", resource_metadata: metadataUrl });
    }
    expect(runs.filter((r) => r.tool === "write_prescription")).toHaveLength(1);
  });

  it("answers 401 with resource_metadata and no error code when no token is sent", async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${metadataUrl}"`);
  });

  it("never dispatches a malformed or batched request unchecked", async () => {
    const agent = await b.createAgent({ orchId: "clinic", taskId: "batch", scope: ["read:records:patient-42"] });
    const post = (body: string): Promise<Response> =>
      fetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${agent.accessToken}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body,
      });
    const malformed = await post("{not json");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: -32700 } });
    const batch = await post(
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_patient_record", arguments: { patientId: "42" } } },
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "get_patient_record", arguments: { patientId: "44" } } },
      ]),
    );
    expect(batch.status).toBe(403);
    expect(challenge(batch.headers.get("www-authenticate")).scope).toBe("read:records:patient-44");
    const numeric = await post(
      JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "get_patient_record", arguments: { patientId: 42 } } }),
    );
    expect(numeric.status).toBe(400);
    expect(runs).toEqual([]);
  });
});

describe("records server gating inside the handlers", () => {
  it("returns an MCP error result and never runs the tool", async () => {
    const http = createServer();
    servers.push(http);
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const records = createRecordsServer({
      guard: { brokerUrl: b.url, publicKey: b.publicKeyPem, resource, mode: "local" },
      resource,
      enforcement: "handler",
      onToolRun: (run) => runs.push(run),
    });
    http.on("request", records.app);
    const local = `http://127.0.0.1:${String((http.address() as AddressInfo).port)}/mcp`;
    const agent = await b.createAgent({ orchId: "clinic", taskId: "inband", scope: ["read:records:patient-42"] });
    const client = await connect(local, agent.accessToken);
    try {
      const ok = await client.callTool({ name: "get_patient_record", arguments: { patientId: "42" } });
      expect(ok.isError).toBeFalsy();
      const refused = await client.callTool({ name: "get_patient_record", arguments: { patientId: "43" } });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toContain("read:records:patient-43");
      // Resources and prompts have no error result: the wrappers answer a JSON-RPC error.
      const resource = await client.readResource({ uri: "records://patients/43" }).then(() => undefined, (e: unknown) => e);
      expect(resource).toBeInstanceOf(McpError);
      expect((resource as McpError).message).toContain("read:records:patient-43");
      expect(await client.getPrompt({ name: "summarize_patient", arguments: { patientId: "43" } }).then(() => undefined, (e: unknown) => e)).toBeInstanceOf(McpError);
      expect(runs.map((r) => r.args)).toEqual([{ patientId: "42" }]);
    } finally {
      await client.close();
    }
    // Every Authorization header is read: a second one is refused, not ignored.
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const twice = await rawRequest({
      port: Number(new URL(local).port),
      head:
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${agent.accessToken}\r\nAuthorization: Bearer x\r\n` +
        `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${String(body.length)}\r\nConnection: close\r\n\r\n`,
      chunks: [body],
    });
    expect(twice.status).toBe(401);
  });
});

