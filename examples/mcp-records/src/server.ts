/**
 * Runs the records MCP server from environment variables:
 *
 * - `AGENTWRIT_BROKER_URL`, `AGENTWRIT_PUBLIC_KEY` (PEM, `\n` escapes allowed), `AGENTWRIT_ISSUER`:
 *   how tokens are checked (both URL and key: hybrid mode);
 * - `MCP_RESOURCE`: the server's canonical URI; default `http://127.0.0.1:<PORT>/mcp`. Tokens
 *   must carry it in `aud` unless `AGENTWRIT_AUDIENCE` says otherwise;
 * - `PORT` (default 3030), `HOST` (default 127.0.0.1).
 */
import { optionsFromEnv } from "@agentwrit/guard";
import { createRecordsServer } from "./records.js";

const port = Number(process.env.PORT ?? "3030");
const host = process.env.HOST ?? "127.0.0.1";
const resource = process.env.MCP_RESOURCE ?? `http://${host}:${String(port)}/mcp`;

const server = createRecordsServer({ guard: { ...optionsFromEnv(process.env), resource }, resource });
const running = await server.listen(port, host);
console.log(`records MCP server on ${running.url} (resource ${resource})`);

const stop = (): void => {
  void running.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
