/**
 * One MCP server (tools, a per-patient resource template, fixed resources, a per-patient prompt)
 * behind the gate on each adapter: Express (`StreamableHTTPServerTransport`), Hono and plain
 * fetch (`WebStandardStreamableHTTPServerTransport`), stateless or stateful. Shared by the
 * package's tests and the security suite (test/security/mcp-seams.test.ts).
 */
import { serve } from "@hono/node-server";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import express from "express";
import { Hono } from "hono";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import { mcpGateMiddleware } from "../src/express.js";
import { mcpGate, type McpGateVariables } from "../src/hono.js";
import { ANY_AGENT, filterLists, getAgentIdentity, sessionNotFoundResponse, toWebResponse, type McpGate, type McpGateOptions } from "../src/index.js";

export const PATIENTS = ["42", "43", "44"] as const;

/** The maps every fixture server is gated with. */
export const MAPS = {
  tools: { get_patient_record: "read:records:patient-{patientId}", whoami: ANY_AGENT },
  resources: {
    "records://patients/{patientId}": "read:records:patient-{patientId}",
    "records://index": ANY_AGENT,
  },
  prompts: { summarize_patient: "read:records:patient-{patientId}" },
} as const satisfies Pick<McpGateOptions, "tools" | "resources" | "prompts">;

export interface FixtureOptions {
  /** Wrap every handler with the gate too (handler-mode enforcement). @default false */
  readonly wrap?: boolean;
  /** Record each handler that ran. */
  readonly runs?: string[];
}

/** The MCP server: `records://secret` is registered without an entry (denied, and warned about). */
export function buildServer(gate: McpGate, options: FixtureOptions = {}): McpServer {
  const runs = options.runs ?? [];
  const w = options.wrap === true;
  const server = new McpServer({ name: "fixture", version: "0.0.0" });
  const record = ({ patientId }: { patientId: string }) => {
    runs.push(`tool:${patientId}`);
    return { content: [{ type: "text" as const, text: `record ${patientId}` }] };
  };
  server.registerTool("get_patient_record", { inputSchema: { patientId: z.string() } }, w ? gate.wrapTool("get_patient_record", record) : record);
  server.registerTool("whoami", {}, (extra) => {
    runs.push("whoami");
    return { content: [{ type: "text", text: getAgentIdentity(extra.authInfo)?.agentId ?? "nobody" }] };
  });
  const read = (uri: URL, variables: Record<string, unknown>) => {
    runs.push(`resource:${String(variables.patientId)}`);
    return { contents: [{ uri: uri.href, text: `patient ${String(variables.patientId)}` }] };
  };
  server.registerResource(
    "patient",
    new ResourceTemplate("records://patients/{patientId}", {
      list: () => ({ resources: PATIENTS.map((id) => ({ uri: `records://patients/${id}`, name: `patient ${id}` })) }),
      complete: { patientId: (value) => PATIENTS.filter((id) => id.startsWith(value)) },
    }),
    {},
    w ? gate.wrapResource("records://patients/{patientId}", read) : read,
  );
  server.registerResource("index", "records://index", {}, (uri) => ({ contents: [{ uri: uri.href, text: PATIENTS.join(",") }] }));
  server.registerResource("secret", "records://secret", {}, (uri) => {
    runs.push("secret");
    return { contents: [{ uri: uri.href, text: "secret" }] };
  });
  const summarize = ({ patientId }: { patientId: string }) => {
    runs.push(`prompt:${patientId}`);
    return { messages: [{ role: "user" as const, content: { type: "text" as const, text: `Summarize patient ${patientId}` } }] };
  };
  server.registerPrompt(
    "summarize_patient",
    { argsSchema: { patientId: completable(z.string(), (value) => PATIENTS.filter((id) => id.startsWith(value))) } },
    w ? gate.wrapPrompt("summarize_patient", summarize) : summarize,
  );
  filterLists(server, gate);
  return server;
}

export type AdapterName = "express" | "hono" | "fetch";

export interface Listening {
  readonly url: string;
  readonly port: number;
  /** Live stateful transports (stateful servers only). */
  readonly sessions: () => number;
  close(): Promise<void>;
}

async function listening(server: Server, sessions: () => number): Promise<Listening> {
  if (!server.listening) await new Promise((r) => server.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}/mcp`,
    port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

type Transport = StreamableHTTPServerTransport | WebStandardStreamableHTTPServerTransport;
type TransportOptions = ConstructorParameters<typeof WebStandardStreamableHTTPServerTransport>[0];

/**
 * The transport for a request, as the SDK's examples keep them: the session's (or `undefined`
 * for an id the server does not know), or a new one connected to a new server.
 */
async function transportFor<T extends Transport>(
  make: (options: TransportOptions) => T,
  gate: McpGate,
  stateful: boolean,
  transports: Map<string, T>,
  id: string | undefined,
  options: FixtureOptions,
): Promise<T | undefined> {
  if (id !== undefined) return transports.get(id);
  const transport: T = make(
    stateful
      ? {
          // Stateful servers answer with SSE streams (the SDK's default); stateless ones with JSON.
          sessionIdGenerator: () => crypto.randomUUID(),
          onsessioninitialized: (sid) => void transports.set(sid, transport),
          onsessionclosed: (sid) => void transports.delete(sid),
        }
      : { enableJsonResponse: true },
  );
  gate.sessions.track(transport);
  await buildServer(gate, options).connect(transport);
  return transport;
}

const web = (o: TransportOptions): WebStandardStreamableHTTPServerTransport => new WebStandardStreamableHTTPServerTransport(o);
const node = (o: TransportOptions): StreamableHTTPServerTransport => new StreamableHTTPServerTransport(o);

/** The fetch form: `gate.checkRequest`, the transport, then `gate.sessions.observe` with its response. */
export function fetchHandler(gate: McpGate, stateful: boolean, options: FixtureOptions = {}): { handle: (request: Request) => Promise<Response>; live: () => number } {
  const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const handle = async (request: Request): Promise<Response> => {
    const checked = await gate.checkRequest(request);
    if (!checked.ok) return checked.response;
    const transport = await transportFor(web, gate, stateful, transports, checked.session.id, options);
    if (transport === undefined) return toWebResponse(sessionNotFoundResponse());
    const response = await transport.handleRequest(request, { authInfo: checked.authInfo, parsedBody: checked.parsedBody });
    gate.sessions.observe(checked, response.status, response.headers.get("mcp-session-id"));
    return response;
  };
  return { handle, live: () => transports.size };
}

/** Serves one adapter on 127.0.0.1. */
export async function listen(name: AdapterName, gate: McpGate, stateful: boolean, options: FixtureOptions = {}): Promise<Listening> {
  if (name === "express") {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    const app = express();
    app.all("/mcp", mcpGateMiddleware(gate), async (req, res) => {
      const id = typeof req.headers["mcp-session-id"] === "string" ? req.headers["mcp-session-id"] : undefined;
      const transport = await transportFor(node, gate, stateful, transports, id, options);
      if (transport === undefined) {
        const r = sessionNotFoundResponse();
        res.status(r.status).set(r.headers).send(r.body);
        return;
      }
      await transport.handleRequest(req, res, req.body);
    });
    const server = createServer(app);
    server.listen(0, "127.0.0.1");
    return listening(server, () => transports.size);
  }
  if (name === "hono") {
    const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
    const app = new Hono<{ Variables: McpGateVariables }>();
    app.all("/mcp", mcpGate(gate), async (c) => {
      const id = c.req.header("mcp-session-id");
      const transport = await transportFor(web, gate, stateful, transports, id, options);
      if (transport === undefined) return toWebResponse(sessionNotFoundResponse());
      return transport.handleRequest(c.req.raw, { authInfo: c.var.authInfo, parsedBody: c.var.mcpParsedBody });
    });
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0, createServer }) as Server;
    return listening(server, () => transports.size);
  }
  const { handle, live } = fetchHandler(gate, stateful, options);
  const server = serve({ fetch: handle, hostname: "127.0.0.1", port: 0, createServer }) as Server;
  return listening(server, live);
}
