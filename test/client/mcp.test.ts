/**
 * MCP client auth: the MCP SDK's own Client and StreamableHTTPClientTransport, given the agent's
 * token by `mcpTransportAuth`, against the records example (examples/mcp-records) on 127.0.0.1
 * with the dev broker. Only tools/list and tools/call are used.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AgentWritApp, AgentWritError, mcpTransportAuth, stepUpByDelegation, stepUpWithNewAgent, type Agent, type StepUpPolicy } from "@agentwrit/client";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createRecordsServer, type ToolRun } from "@agentwrit/example-mcp-records";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { recordingFetch } from "./support.js";

let broker: DevBroker;
let http: Server;
let resource: string;
let origin: string;
let client: AgentWritApp;
const runs: ToolRun[] = [];
const rec = recordingFetch();
const open: Client[] = [];

beforeAll(async () => {
  // The server's URI (with its port) is its audience: listen first, then start the broker.
  http = createServer();
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${String((http.address() as AddressInfo).port)}`;
  resource = `${origin}/mcp`;
  broker = await startDevBroker({ audience: resource });
  const records = createRecordsServer({ guard: { brokerUrl: broker.url, publicKey: broker.publicKeyPem, resource }, resource, onToolRun: (run) => runs.push(run) });
  http.on("request", records.app);
  const registered = await broker.registerApp({ name: "clinic", scopes: ["read:records:*", "write:prescriptions:*"] });
  client = new AgentWritApp({ brokerUrl: broker.url, clientId: registered.clientId, clientSecret: registered.clientSecret, fetch: rec.fetch });
});

afterAll(async () => {
  for (const c of open) await c.close();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  await broker.close();
});

beforeEach(() => {
  runs.length = 0;
  rec.sent.length = 0;
});

async function connect(agent: Agent): Promise<Client> {
  const mcp = new Client({ name: "agentwrit-client-test", version: "0.0.0" });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(resource), mcpTransportAuth(agent, resource)));
  open.push(mcp);
  return mcp;
}

const reader = (stepUp?: StepUpPolicy): Promise<Agent> =>
  client.createAgent({ orchId: "clinic", taskId: "visit-42", scope: ["read:records:patient-42"], allowedOrigins: [origin], ...(stepUp === undefined ? {} : { stepUp }) });
const text = (result: Awaited<ReturnType<Client["callTool"]>>): unknown => JSON.parse((result.content as { text: string }[])[0]!.text);

describe("mcpTransportAuth with the MCP SDK's StreamableHTTPClientTransport", () => {
  it("the agent's token opens the session, lists the tools its scope allows, and calls them", async () => {
    const agent = await reader();
    const mcp = await connect(agent);
    const { tools } = await mcp.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain("get_patient_record");
    expect(names).not.toContain("write_prescription");
    expect(text(await mcp.callTool({ name: "get_patient_record", arguments: { patientId: "42" } }))).toMatchObject({ id: "42", name: "Ada Example" });
    expect(runs.map((r) => [r.tool, r.agentId])).toEqual([["get_patient_record", agent.agentId]]);
  });

  it("without a step-up policy, a tool beyond the scope is a 403 the SDK reports; the tool never ran", async () => {
    const mcp = await connect(await reader());
    const e = await mcp.callTool({ name: "write_prescription", arguments: { patientId: "42", drug: "ibuprofen" } }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StreamableHTTPError);
    expect((e as StreamableHTTPError).code).toBe(403);
    expect(runs).toEqual([]);
  });

  it("step-up with a new agent for the same task: the tool call is retried once and runs as the new agent", async () => {
    const agent = await reader(stepUpWithNewAgent(client));
    const mcp = await connect(agent);
    const result = text(await mcp.callTool({ name: "write_prescription", arguments: { patientId: "42", drug: "ibuprofen" } })) as { by: string };
    expect(result).toMatchObject({ patientId: "42", drug: "ibuprofen", delegationDepth: 0 });
    expect(result.by).not.toBe(agent.agentId);
    expect(result.by).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/clinic\/visit-42\//);
    expect(runs.map((r) => r.tool)).toEqual(["write_prescription"]);
    expect(runs[0]!.identity?.scope).toEqual(["read:records:patient-42", "write:prescriptions:patient-42"]);
    // Another patient is outside the grant: a second step-up, for that patient only.
    expect(text(await mcp.callTool({ name: "write_prescription", arguments: { patientId: "43", drug: "aspirin" } }))).toMatchObject({ patientId: "43" });
    expect(rec.paths().filter((p) => p === "POST /v1/register")).toHaveLength(3); // the reader, then one grant per patient
    await agent.release();
  });

  it("step-up by delegation from a prescriber: the tool runs as this agent, one delegation deep", async () => {
    const prescriber = await client.createAgent({ orchId: "clinic", taskId: "prescriber", scope: ["read:records:patient-42", "write:prescriptions:patient-42"] });
    const agent = await reader(stepUpByDelegation(prescriber));
    const mcp = await connect(agent);
    expect(text(await mcp.callTool({ name: "write_prescription", arguments: { patientId: "42", drug: "ibuprofen" } }))).toMatchObject({ by: agent.agentId, delegationDepth: 1 });
    await agent.release();
  });

  it("renews a token that is due before the MCP request, and the released token ends the session's access", async () => {
    const agent = await client.createAgent({ orchId: "clinic", taskId: "short", scope: ["read:records:patient-42"], allowedOrigins: [origin], maxTtl: 60, renewBeforeSeconds: 60 });
    const mcp = await connect(agent);
    const renewals = rec.paths().filter((p) => p === "POST /v1/token/renew").length;
    expect(renewals).toBeGreaterThan(0); // every request renews with a 60 s window on a 60 s token
    await mcp.callTool({ name: "get_patient_record", arguments: { patientId: "42" } });
    await agent.release();
    const e = await mcp.callTool({ name: "get_patient_record", arguments: { patientId: "42" } }).catch((err: unknown) => err);
    expect((e as StreamableHTTPError).code).toBe(401);
  });

  it("refuses a server outside the agent's allowedOrigins", async () => {
    const agent = await reader();
    expect(() => mcpTransportAuth(agent, "http://127.0.0.1:1/mcp")).toThrow(AgentWritError);
  });
});
