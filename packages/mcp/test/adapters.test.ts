import type { DevBroker } from "@agentwrit/dev-broker";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import express from "express";
import { Hono } from "hono";
import type { McpGateVariables } from "../src/hono.js";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as z from "zod";
import { mcpGateMiddleware } from "../src/express.js";
import { mcpGate } from "../src/hono.js";
import { ANY_AGENT, createMcpGate, filterToolsList, getAgentIdentity, type McpGate } from "../src/index.js";
import { broker, challenge, METADATA_URL, RESOURCE, toolCall } from "./support.js";

let b: DevBroker;
let gate: McpGate;
let token: string;

beforeAll(async () => {
  b = await broker();
  gate = createMcpGate({
    guard: { publicKey: b.publicKeyPem, resource: RESOURCE },
    tools: { get_patient_record: "read:records:patient-{patientId}", whoami: ANY_AGENT },
  });
  token = (await b.createAgent({ orchId: "o", taskId: "a", scope: ["read:records:patient-42"] })).accessToken;
});
afterAll(async () => {
  await b.close();
});

describe("Express middleware", () => {
  function app(withJson: boolean): express.Express {
    const a = express();
    const handlers: express.RequestHandler[] = withJson ? [express.json()] : [];
    a.post("/mcp", ...handlers, mcpGateMiddleware(gate), (req, res) => {
      const auth = (req as express.Request & { auth?: { clientId: string } }).auth;
      res.json({ clientId: auth?.clientId, body: req.body });
    });
    return a;
  }

  it.each([true, false])("sets req.auth and checks the body (express.json: %s)", async (withJson) => {
    const ok = await request(app(withJson))
      .post("/mcp")
      .set("Authorization", `Bearer ${token}`)
      .set("Content-Type", "application/json")
      .send(toolCall("get_patient_record", { patientId: "42" }));
    expect(ok.status).toBe(200);
    expect(ok.body.clientId).toMatch(/^spiffe:\/\//);
    expect(ok.body.body.params.arguments.patientId).toBe("42");
    const refused = await request(app(withJson))
      .post("/mcp")
      .set("Authorization", `Bearer ${token}`)
      .set("Content-Type", "application/json")
      .send(toolCall("get_patient_record", { patientId: "43" }));
    expect(refused.status).toBe(403);
    expect(challenge(refused.headers["www-authenticate"])).toMatchObject({ scope: "read:records:patient-43", resource_metadata: METADATA_URL });
  });

  it("authenticates before reading the body, and answers malformed JSON with a JSON-RPC 400", async () => {
    const unauth = await request(app(false)).post("/mcp").set("Content-Type", "application/json").send("{nope");
    expect(unauth.status).toBe(401);
    expect(unauth.headers["www-authenticate"]).toBe(`Bearer resource_metadata="${METADATA_URL}"`);
    const bad = await request(app(false)).post("/mcp").set("Authorization", `Bearer ${token}`).set("Content-Type", "application/json").send("{nope");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ jsonrpc: "2.0", error: { code: -32700 }, id: null });
  });

  it("answers a falsy rejection inside the gate with a 500, never next(undefined) (which Express reads as a pass)", async () => {
    const spy = vi.spyOn(gate, "checkHttp").mockImplementation(() => Promise.reject(undefined)); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- the hostile case under test
    try {
      const res = await request(app(true)).post("/mcp").set("authorization", `Bearer ${token}`).send(toolCall("whoami", {}));
      expect(res.status).toBe(500);
      expect(res.body).not.toHaveProperty("clientId");
    } finally {
      spy.mockRestore();
    }
  });

  it("refuses several Authorization headers", async () => {
    const res = await request(app(true))
      .post("/mcp")
      .set("Authorization", [`Bearer ${token}`, `Bearer ${token}`] as unknown as string)
      .send(toolCall("whoami"));
    expect(res.status).toBe(401);
  });
});

function mcpServer(onRun: (name: string) => void): McpServer {
  const server = new McpServer({ name: "t", version: "0.0.0" });
  server.registerTool("get_patient_record", { inputSchema: { patientId: z.string() } }, ({ patientId }) => {
    onRun(`get_patient_record:${patientId}`);
    return { content: [{ type: "text", text: `record ${patientId}` }] };
  });
  server.registerTool("whoami", {}, (extra) => {
    onRun("whoami");
    return { content: [{ type: "text", text: getAgentIdentity(extra.authInfo)?.agentId ?? "nobody" }] };
  });
  server.registerTool("secret", {}, () => {
    onRun("secret");
    return { content: [{ type: "text", text: "secret" }] };
  });
  filterToolsList(server, gate);
  return server;
}

describe("Hono middleware with the SDK's web-standard transport", () => {
  const runs: string[] = [];
  const app = new Hono<{ Variables: McpGateVariables }>();
  // The gate is made in beforeAll, so build the middleware on first use.
  app.post("/mcp", (c, next) => mcpGate(gate)(c, next), async (c) => {
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
    await mcpServer((n) => runs.push(n)).connect(transport);
    return transport.handleRequest(c.req.raw, { authInfo: c.var.authInfo, parsedBody: c.var.mcpParsedBody });
  });
  const post = (body: unknown, auth = `Bearer ${token}`): Promise<Response> =>
    Promise.resolve(
      app.request("/mcp", {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );

  it("dispatches allowed calls with authInfo and refuses the others before the tool runs", async () => {
    const ok = await post(toolCall("get_patient_record", { patientId: "42" }));
    expect(ok.status).toBe(200);
    expect(JSON.stringify(await ok.json())).toContain("record 42");
    const who = await post(toolCall("whoami"));
    expect(JSON.stringify(await who.json())).toContain("spiffe://");
    const refused = await post(toolCall("get_patient_record", { patientId: "43" }));
    expect(refused.status).toBe(403);
    expect(challenge(refused.headers.get("www-authenticate")).scope).toBe("read:records:patient-43");
    const unlisted = await post(toolCall("secret"));
    expect(unlisted.status).toBe(403);
    expect((await post("[")).status).toBe(400);
    expect((await post(toolCall("whoami"), "Bearer x")).status).toBe(401);
    expect(runs).toEqual(["get_patient_record:42", "whoami"]);
  });

  it("filters tools/list by scope", async () => {
    const res = await post({ jsonrpc: "2.0", id: 7, method: "tools/list" });
    const body = (await res.json()) as { result: { tools: { name: string }[] } };
    expect(body.result.tools.map((t) => t.name)).toEqual(["get_patient_record", "whoami"]);
  });
});

describe("handler wrapper", () => {
  it("runs the tool only when extra.authInfo allows the call", async () => {
    const auth = await gate.authenticate(`Bearer ${token}`);
    if (!auth.ok) throw new Error("authentication failed");
    const calls: string[] = [];
    const handler = gate.wrapTool("get_patient_record", (args: { patientId: unknown }, _extra: { authInfo?: unknown }) => {
      calls.push(String(args.patientId));
      return { content: [{ type: "text" as const, text: "ok" }] };
    });
    expect(handler({ patientId: "42" }, { authInfo: auth.authInfo })).toEqual({ content: [{ type: "text", text: "ok" }] });
    const refused = (handler({ patientId: "43" }, { authInfo: auth.authInfo })) as unknown as { isError: boolean; content: { text: string }[] };
    expect(refused.isError).toBe(true);
    expect(refused.content[0]!.text).toContain("read:records:patient-43");
    const bad = (handler({ patientId: "*" }, { authInfo: auth.authInfo })) as unknown as { isError: boolean; content: { text: string }[] };
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toContain("invalid_parameter");
    const anonymous = (handler({ patientId: "42" }, {})) as unknown as { isError: boolean };
    expect(anonymous.isError).toBe(true);
    const foreign = (handler({ patientId: "42" }, { authInfo: { ...auth.authInfo, extra: {} } })) as unknown as { isError: boolean };
    expect(foreign.isError).toBe(true);
    expect(calls).toEqual(["42"]);
    // No-argument tools get (extra) only.
    const noArgs = gate.wrapTool("whoami", (_extra: { authInfo?: unknown }) => "ran");
    expect(noArgs({ authInfo: auth.authInfo })).toBe("ran");
    expect(() => gate.wrapTool("secret", () => "x")).toThrow(TypeError);
  });

  it("filterToolsList needs a registered tools/list handler", () => {
    expect(() => filterToolsList(new McpServer({ name: "empty", version: "0" }), gate)).toThrow(TypeError);
  });
});
