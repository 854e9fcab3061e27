/**
 * A Streamable HTTP MCP server whose tools, resources and prompts are guarded per patient by
 * AgentWrit scopes.
 *
 * - `get_patient_record({ patientId })` needs `read:records:patient-{patientId}`;
 * - `write_prescription({ patientId, drug })` needs that and `write:prescriptions:patient-{patientId}`;
 * - `list_my_patients()` needs any `read:records:patient-*` scope and lists the patients the
 *   agent may read;
 * - the resource `records://patients/{patientId}` and the prompt `summarize_patient({ patientId })`
 *   need `read:records:patient-{patientId}`; `resources/list` shows each agent its own patients.
 *
 * `patientId` is the bare number ("42"): the template adds the `patient-` prefix, so an agent
 * scoped to `read:records:patient-42` reads patient 42 and is refused patient 43 with a 403
 * challenge naming `read:records:patient-43`.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { authorizationFromRawHeaders, type AgentIdentity, type Guard } from "@agentwrit/guard";
import {
  createMcpGate,
  filterLists,
  getAgentIdentity,
  type AuthInfo,
  type McpGate,
  type McpGuardOptions,
  type PromptScopeMap,
  type ResourceScopeMap,
  type ToolScopeMap,
} from "@agentwrit/guard-mcp";
import { mcpGateMiddleware, protectedResourceMetadataRouter } from "@agentwrit/guard-mcp/express";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { localhostHostValidation } from "@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import * as z from "zod";

/** The scope map: one requirement per tool, templates bound to the tool's arguments. */
export const RECORDS_TOOL_SCOPES = {
  get_patient_record: "read:records:patient-{patientId}",
  write_prescription: ["read:records:patient-{patientId}", "write:prescriptions:patient-{patientId}"],
  list_my_patients: "read:records:patient-*",
} as const satisfies ToolScopeMap;

/** One patient's record as a resource, guarded like `get_patient_record`. */
export const RECORDS_RESOURCE_SCOPES = {
  "records://patients/{patientId}": "read:records:patient-{patientId}",
} as const satisfies ResourceScopeMap;

/** A prompt that embeds one patient's record, guarded like reading it. */
export const RECORDS_PROMPT_SCOPES = {
  summarize_patient: "read:records:patient-{patientId}",
} as const satisfies PromptScopeMap;

interface Patient {
  readonly id: string;
  readonly name: string;
  readonly allergies: readonly string[];
}

const PATIENTS: readonly Patient[] = [
  { id: "42", name: "Ada Example", allergies: ["penicillin"] },
  { id: "43", name: "Brook Sample", allergies: [] },
  { id: "44", name: "Cyd Placeholder", allergies: ["latex"] },
];

/** One handler execution (tool, resource read or prompt), as reported to `onToolRun` (never the token). */
export interface ToolRun {
  /** The tool, resource template or prompt name. */
  readonly tool: string;
  readonly kind: "tool" | "resource" | "prompt";
  readonly agentId: string | undefined;
  readonly args: Readonly<Record<string, unknown>>;
  /** The verified agent (claims and delegation chain; no token). */
  readonly identity: AgentIdentity | undefined;
}

export interface RecordsServerOptions {
  /** A guard, or guard options (with `resource`, the audience is bound to the server's URI). */
  readonly guard: Guard | McpGuardOptions;
  /** The server's canonical URI, e.g. `https://records.example/mcp`; its path is where MCP is served. */
  readonly resource: string;
  /** Filter the lists (`tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`) by the caller's scope. @default true */
  readonly filterTools?: boolean;
  /** Where to gate: at HTTP before dispatch (default), or only inside the handlers. */
  readonly enforcement?: "http" | "handler";
  /** Called whenever a handler actually runs (tests use it to prove refused calls never ran). */
  readonly onToolRun?: (run: ToolRun) => void;
}

export interface RecordsServer {
  readonly app: express.Express;
  readonly gate: McpGate;
  /** The path MCP is served at (the resource URI's path). */
  readonly mcpPath: string;
  /** Listens on `host` (default 127.0.0.1) and `port` (default 0). */
  listen(port?: number, host?: string): Promise<{ readonly url: string; readonly server: Server; close(): Promise<void> }>;
}

function text(value: unknown): { content: { type: "text"; text: string }[] } {
  return { content: [{ type: "text", text: JSON.stringify(value) }] };
}

/** Builds the Express app: metadata endpoints, the gate, and a stateless MCP endpoint. */
export function createRecordsServer(options: RecordsServerOptions): RecordsServer {
  const gate = createMcpGate({
    guard: options.guard,
    tools: RECORDS_TOOL_SCOPES,
    resources: RECORDS_RESOURCE_SCOPES,
    prompts: RECORDS_PROMPT_SCOPES,
    resource: options.resource,
  });
  const mcpPath = new URL(options.resource).pathname;
  const prescriptions: { patientId: string; drug: string; by: string }[] = [];
  const ran = (tool: string, args: Readonly<Record<string, unknown>>, identity: AgentIdentity | undefined, kind: ToolRun["kind"] = "tool"): void => {
    options.onToolRun?.({ tool, kind, args, agentId: identity?.agentId, identity });
  };
  const patientIds = (prefix: string): string[] => PATIENTS.map((p) => p.id).filter((id) => id.startsWith(prefix));
  // With HTTP enforcement the handlers are still wrapped: defence in depth, and the same code
  // serves hosts that cannot gate at HTTP.

  const buildMcpServer = (): McpServer => {
    const server = new McpServer({ name: "agentwrit-records-example", version: "0.1.0" });
    server.registerTool(
      "get_patient_record",
      { description: "Reads one patient's record.", inputSchema: { patientId: z.string().describe('The patient number, e.g. "42"') } },
      gate.wrapTool("get_patient_record", ({ patientId }: { patientId: string }, extra) => {
        ran("get_patient_record", { patientId }, getAgentIdentity(extra.authInfo));
        const patient = PATIENTS.find((p) => p.id === patientId);
        return patient === undefined ? { isError: true, content: [{ type: "text" as const, text: "no such patient" }] } : text(patient);
      }),
    );
    server.registerTool(
      "write_prescription",
      { description: "Writes a prescription for a patient.", inputSchema: { patientId: z.string(), drug: z.string().min(1) } },
      gate.wrapTool("write_prescription", ({ patientId, drug }: { patientId: string; drug: string }, extra) => {
        const agent = getAgentIdentity(extra.authInfo);
        ran("write_prescription", { patientId, drug }, agent);
        const entry = { patientId, drug, by: agent?.agentId ?? "unknown" };
        prescriptions.push(entry);
        return text({ ...entry, delegationDepth: agent?.delegationDepth ?? 0 });
      }),
    );
    server.registerTool(
      "list_my_patients",
      { description: "Lists the patients whose records the calling agent may read." },
      gate.wrapTool("list_my_patients", (extra: { readonly authInfo?: AuthInfo | undefined }) => {
        const agent = getAgentIdentity(extra.authInfo);
        ran("list_my_patients", {}, agent);
        const mine = PATIENTS.filter((p) => {
          if (agent === undefined) return false;
          try {
            gate.authorizeCall(agent, "get_patient_record", { patientId: p.id });
            return true;
          } catch {
            return false;
          }
        });
        return text(mine.map((p) => ({ id: p.id, name: p.name })));
      }),
    );
    server.registerResource(
      "patient-record",
      new ResourceTemplate("records://patients/{patientId}", {
        // Every patient; the gate shows each agent only the ones it may read.
        list: () => ({ resources: PATIENTS.map((p) => ({ uri: `records://patients/${p.id}`, name: p.name, mimeType: "application/json" })) }),
        complete: { patientId: patientIds },
      }),
      { description: "One patient's record.", mimeType: "application/json" },
      gate.wrapResource("records://patients/{patientId}", (uri, { patientId }, extra) => {
        ran("records://patients/{patientId}", { patientId }, getAgentIdentity(extra.authInfo), "resource");
        const patient = PATIENTS.find((p) => p.id === patientId);
        return { contents: patient === undefined ? [] : [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(patient) }] };
      }),
    );
    server.registerPrompt(
      "summarize_patient",
      {
        description: "Asks the model for a short summary of one patient's record.",
        argsSchema: { patientId: completable(z.string().describe('The patient number, e.g. "42"'), patientIds) },
      },
      gate.wrapPrompt("summarize_patient", ({ patientId }, extra) => {
        ran("summarize_patient", { patientId }, getAgentIdentity(extra.authInfo), "prompt");
        const patient = PATIENTS.find((p) => p.id === patientId);
        return {
          messages: [
            {
              role: "user" as const,
              content: { type: "text" as const, text: `Summarize this patient record in two sentences:\n${JSON.stringify(patient ?? null)}` },
            },
          ],
        };
      }),
    );
    if (options.filterTools !== false) filterLists(server, gate);
    return server;
  };

  const app = express();
  app.disable("x-powered-by");
  app.use(localhostHostValidation());
  app.use(protectedResourceMetadataRouter({ resource: options.resource, resourceName: "Patient records (AgentWrit example)" }));

  // Stateless Streamable HTTP: a fresh server and transport per request (the SDK's stateless pattern).
  const handle = async (req: express.Request, res: express.Response): Promise<void> => {
    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    // The transport gets exactly the body the gate checked.
    await transport.handleRequest(req, res, req.body);
  };

  if (options.enforcement === "handler") {
    // Authentication only at HTTP (no tool check); the wrapped handlers decide per call. Every
    // Authorization header is read: several are refused, never the first one picked.
    app.post(mcpPath, express.json(), async (req, res, next) => {
      const auth = await gate.authenticate(authorizationFromRawHeaders(req.rawHeaders));
      if (!auth.ok) {
        res.status(auth.response.status).set(auth.response.headers).send(auth.response.body);
        return;
      }
      (req as express.Request & { auth?: unknown }).auth = auth.authInfo;
      next();
    }, handle);
  } else {
    app.post(mcpPath, mcpGateMiddleware(gate), handle);
  }
  // Stateless: no standalone SSE stream and no sessions to delete.
  app.all(mcpPath, (_req, res) => {
    res.status(405).set("Allow", "POST").json({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed." }, id: null });
  });

  return {
    app,
    gate,
    mcpPath,
    async listen(port = 0, host = "127.0.0.1") {
      const server = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(port, host, (err?: Error) => {
          if (err === undefined) resolve(s);
          else reject(err);
        });
      });
      const addr = server.address() as AddressInfo;
      return {
        url: `http://${addr.address}:${String(addr.port)}${mcpPath}`,
        server,
        close: () =>
          new Promise<void>((resolve) => {
            server.close(() => {
              resolve();
            });
            server.closeAllConnections();
          }),
      };
    },
  };
}
