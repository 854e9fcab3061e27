/**
 * A self-contained walk-through: starts a dev broker and the records server on 127.0.0.1, then
 * an MCP client calls the tools, reads the patient resources and gets the prompt with agent
 * tokens, and prints what happens (never the tokens).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startDevBroker } from "@agentwrit/dev-broker";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createRecordsServer } from "./records.js";

const http = createServer();
await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
const resource = `http://127.0.0.1:${String((http.address() as AddressInfo).port)}/mcp`;
const broker = await startDevBroker({ audience: resource });
const records = createRecordsServer({
  guard: { brokerUrl: broker.url, publicKey: broker.publicKeyPem, resource },
  resource,
  onToolRun: (run) => {
    console.log(`  [server] ran ${run.kind} ${run.tool} ${JSON.stringify(run.args)}`);
  },
});
http.on("request", records.app);

async function session(label: string, token: string, steps: (client: Client) => Promise<void>): Promise<void> {
  console.log(`\n${label}`);
  const client = new Client({ name: "demo", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  try {
    await client.connect(transport);
    await steps(client);
  } catch (e) {
    console.log(`  refused: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await client.close();
  }
}

/** Runs one request and prints its result, or why it was refused. */
async function attempt(label: string, run: () => Promise<unknown>): Promise<void> {
  try {
    console.log(`  ${label} →`, JSON.stringify(await run()).slice(0, 200));
  } catch (e) {
    console.log(`  ${label} refused: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`);
  }
}

async function call(client: Client, name: string, args: Record<string, string> = {}): Promise<void> {
  await attempt(`${name} ${JSON.stringify(args)}`, async () => (await client.callTool({ name, arguments: args })).content);
}

try {
  const reader = await broker.createAgent({ orchId: "demo", taskId: "reader", scope: ["read:records:patient-42"] });
  await session("Agent scoped to read:records:patient-42", reader.accessToken, async (client) => {
    const { tools } = await client.listTools();
    console.log("  sees tools:", tools.map((t) => t.name).join(", "));
    await call(client, "get_patient_record", { patientId: "42" });
    await call(client, "get_patient_record", { patientId: "43" });
    await call(client, "write_prescription", { patientId: "42", drug: "ibuprofen" });
    await call(client, "list_my_patients");
    const { resources } = await client.listResources();
    console.log("  sees resources:", resources.map((r) => r.uri).join(", "));
    for (const uri of ["records://patients/42", "records://patients/43"]) {
      await attempt(`read ${uri}`, async () => (await client.readResource({ uri })).contents);
    }
    for (const patientId of ["42", "43"]) {
      await attempt(`prompt summarize_patient ${JSON.stringify({ patientId })}`, async () => (await client.getPrompt({ name: "summarize_patient", arguments: { patientId } })).messages);
    }
  });
  const prescriber = await broker.createAgent({
    orchId: "demo",
    taskId: "prescriber",
    scope: ["read:records:patient-42", "write:prescriptions:patient-42"],
  });
  const delegated = await broker.delegate(prescriber.accessToken, {
    delegateTo: reader.agentId,
    scope: ["read:records:patient-42", "write:prescriptions:patient-42"],
  });
  await session("Reader with a token delegated by the prescriber", delegated.accessToken, async (client) => {
    await call(client, "write_prescription", { patientId: "42", drug: "ibuprofen" });
  });
  await broker.release(delegated.accessToken);
  await session("The same delegated token after release", delegated.accessToken, async (client) => {
    await call(client, "get_patient_record", { patientId: "42" });
  });
} finally {
  await new Promise<void>((resolve) => {
    http.close(() => {
      resolve();
    });
    http.closeAllConnections();
  });
  await broker.close();
}
