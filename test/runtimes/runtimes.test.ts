/**
 * Runtime neutrality, proven by running it: the core and the Hono adapter, bundled for Web APIs,
 * give the same answers on Node, Bun, Deno and workerd (the Cloudflare Workers runtime); so does
 * the agent side (@agentwrit/client) against a real dev broker and a guarded API on 127.0.0.1.
 * The runtimes come from npm (test/package.json). Missing locally: one skip line; in CI: a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { sign } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { computeChainHash, delegationSigningInput, type DelegationRecord } from "@agentwrit/guard";
import { agentwritGuard, requireScope, type AgentWritEnv } from "@agentwrit/guard-hono";
import { serve, type ServerType } from "@hono/node-server";
import { build, type Metafile } from "esbuild";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answer, standIn, type StandIn } from "../support/servers.js";
import { b64url, claims, makeKey, mint, nowSec, signJws } from "../support/tokens.js";
import { checkAll, type AllInput } from "./fixtures/all.js";
import type { CheckInput } from "./fixtures/check.js";
import type { ClientCheckInput } from "./fixtures/client-check.js";

const here = new URL(".", import.meta.url).pathname;
const bin = (name: string): string => join(here, "../node_modules/.bin", name);
const runtimes = ["bun", "deno", "workerd"] as const;
const missing = runtimes.filter((r) => !existsSync(bin(r)));
const skip = missing.length > 0 && process.env.CI !== "true";
if (skip) console.log(`runtimes: skipped (not installed: ${missing.join(", ")}; run pnpm install)`);

const key = makeKey();
const attacker = makeKey();
let dir = "";
let broker: StandIn;
let input: CheckInput;
let expected: Record<string, unknown>;
/** For the client check: a real dev broker, a guarded API, and an origin the token must never reach. */
let devBroker: DevBroker;
let api: ServerType;
let other: ServerType;
const otherSawAuthorization: string[] = [];
const clientInputs = new Map<string, ClientCheckInput>();
const inputFor = (runtime: string): AllInput => ({ ...input, client: clientInputs.get(runtime)! });

function listenHono(app: Hono<AgentWritEnv>): Promise<{ server: ServerType; url: string }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve({ server, url: `http://127.0.0.1:${String(info.port)}` }));
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

const WORKER_CONDITIONS = ["@agentwrit/source", "workerd", "worker", "browser"];

async function bundle(entry: string, out: string, conditions = WORKER_CONDITIONS): Promise<{ file: string; metafile: Metafile }> {
  const outfile = join(dir, out);
  const { metafile } = await build({
    entryPoints: [join(here, "fixtures", entry)],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions,
    external: conditions.includes("node") ? ["node:*"] : [],
    outfile,
    logLevel: "silent",
    metafile: true,
  });
  return { file: outfile, metafile };
}

/** The `node:` modules a bundle imports, and whether the core's Node-only module is inside it. */
function nodeUse(metafile: Metafile): { imports: string[]; nodeModule: boolean } {
  const imports = Object.values(metafile.outputs).flatMap((o) => o.imports.map((i) => i.path).filter((p) => p.startsWith("node:")));
  return { imports, nodeModule: Object.keys(metafile.inputs).some((p) => p.endsWith("core/src/runtime-node.ts")) };
}

describe("a bundle for Workers", () => {
  it("imports no node: module, and leaves the core's Node fast path out", async () => {
    const { file, metafile } = await bundle("worker-entry.ts", "worker-check.mjs");
    expect(nodeUse(metafile)).toEqual({ imports: [], nodeModule: false });
    expect(readFileSync(file, "utf8")).not.toMatch(/["']node:[a-z_/]+["']/);
    // The check can fail: with the "node" condition the same entry takes runtime-node.ts and node:crypto.
    const { metafile: forNode } = await bundle("worker-entry.ts", "worker-node-check.mjs", ["@agentwrit/source", "node"]);
    expect(nodeUse(forNode)).toEqual({ imports: expect.arrayContaining(["node:crypto"]) as unknown, nodeModule: true });
  }, 60_000);
});

/**
 * The runtimes' npm bins are shell shims that start the real binary as a child: signalling the
 * shim would leave the binary running. Each runtime gets a process group of its own, and the
 * whole group is ended.
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * True while any process of the group is running. On Linux /proc is read, so that a zombie
 * waiting to be reaped by init does not count; elsewhere signal 0 only checks.
 */
function groupAlive(pgid: number): boolean {
  if (existsSync("/proc/self/stat")) {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      } catch {
        continue;
      }
      // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) return true;
    }
    return false;
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function groupGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && groupAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !groupAlive(pid);
}

/** Runs a command without blocking this process (the broker stand-in answers from here). */
function run(command: string, args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" }, detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => killGroup(child), 60_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      killGroup(child);
      resolve({ status, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "agentwrit-runtimes-"));
  const ok = mint(key, claims({ scope: ["read:data:customer-42"], exp: nowSec() + 3600 }));
  const record = { agent: "spiffe://agentwrit.local/agent/o/t/aaaaaaaaaaaaaaaa", scope: ["read:data:*"], delegated_at: "2026-04-14T20:26:27.257796884Z" };
  const chain: DelegationRecord[] = [{ ...record, signature: sign(null, Buffer.from(delegationSigningInput(record)), key.privateKey).toString("hex") }];
  broker = await standIn(answer(200, { valid: true, claims: JSON.parse(Buffer.from(ok.split(".")[1]!, "base64url").toString()) as unknown }));
  input = {
    publicKeyJwk: key.jwk,
    tokens: {
      ok,
      forged: signJws({ alg: "EdDSA", typ: "JWT", kid: key.kid }, claims(), attacker.privateKey),
      algNone: `${b64url({ alg: "none" })}.${b64url(claims())}.`,
      expired: mint(key, claims({ exp: nowSec() - 3600 })),
      delegated: mint(key, claims({ scope: ["read:data:x"], delegation_chain: chain, chain_hash: await computeChainHash(chain) })),
    },
    chain,
    brokerUrl: broker.url,
  };
  devBroker = await startDevBroker();
  const otherApp = new Hono<AgentWritEnv>();
  otherApp.all("*", (c) => {
    otherSawAuthorization.push(c.req.header("authorization") ?? "");
    return c.text("elsewhere");
  });
  const otherServer = await listenHono(otherApp);
  other = otherServer.server;
  const apiApp = new Hono<AgentWritEnv>();
  apiApp.get("/to-other", (c) => c.redirect(otherServer.url + "/stolen", 302));
  apiApp.use("*", agentwritGuard({ brokerUrl: devBroker.url, publicKey: devBroker.publicKeyPem }));
  apiApp.get("/customers/:id", requireScope("read:data:customer-{id}"), (c) => c.json({ agent: c.var.agentwrit.agentId }));
  const apiServer = await listenHono(apiApp);
  api = apiServer.server;
  // One app per runtime: app authentication is rate-limited per client id.
  for (const runtime of ["node", ...runtimes]) {
    const registered = await devBroker.registerApp({ name: `runtime-${runtime}`, scopes: ["read:data:*"] });
    clientInputs.set(runtime, { brokerUrl: devBroker.url, clientId: registered.clientId, clientSecret: registered.clientSecret, apiUrl: apiServer.url });
  }
  expected = await checkAll(inputFor("node"));
}, 60_000);

afterAll(async () => {
  await closeServer(api);
  await closeServer(other);
  await devBroker.close();
  await broker.close();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)("the same answers on every runtime", () => {
  it("Node (reference) answers as the guard's contract says", () => {
    expect(expected).toMatchObject({
      again: "accepted:cache",
      forged: "invalid_signature:401",
      algNone: "unsupported_alg:401",
      expired: "token_expired:401",
      delegated: "accepted:local",
      subset: [true, false, false],
      broker: "accepted:broker",
    });
    expect((expected.hono as string[]).map((s) => s.slice(0, 3))).toEqual(["200", "403", "401", "400"]);
    expect(expected.client).toEqual({
      health: "ok",
      agent: { idShape: true, scope: ["read:data:customer-42"], expiresIn: 120 },
      validate: { valid: true, sub: true, scope: ["read:data:customer-42"] },
      fetch: [200, 403, 302],
      otherOrigin: "AgentWritError",
      renewed: true,
      delegated: { sub: true, chain: 1, expiresIn: 60 },
      overCeiling: "AuthorizationError 403 forbidden",
      withAgent: { status: 200, releasedAfter: true },
      afterRelease: [true, 401],
      challenge: { error: "insufficient_scope", scope: ["a:b:c", "d:e:f"] },
    });
    expect(otherSawAuthorization).toEqual([]);
  });

  it.each(["bun", "deno"] as const)("%s", async (runtime) => {
    const { file } = await bundle("cli-entry.ts", `${runtime}.mjs`);
    const json = JSON.stringify(inputFor(runtime));
    const args = runtime === "bun" ? ["run", file, json] : ["run", "--quiet", "--no-prompt", "--allow-net=127.0.0.1", file, json];
    const r = await run(bin(runtime), args);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}")).toEqual(expected);
    expect(otherSawAuthorization).toEqual([]);
  }, 90_000);

  it("workerd (Cloudflare Workers)", async () => {
    await bundle("worker-entry.ts", "worker.mjs"); // config.capnp embeds it by name
    const port = await freePort();
    const config = join(dir, "config.capnp");
    writeFileSync(
      config,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "loopback", network = (allow = ["local"]))],
  sockets = [(name = "http", address = "127.0.0.1:${String(port)}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
  compatibilityDate = "2025-09-01",
  # The client check reaches the dev broker and the API on 127.0.0.1 (nothing else).
  globalOutbound = "loopback",
);
`,
    );
    const child = spawn(bin("workerd"), ["serve", config], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      // The core's online check stays out (its broker stand-in is checked on the other runtimes).
      const { brokerUrl: _ignored, ...workerInput } = inputFor("workerd");
      let result: unknown;
      for (let attempt = 0; attempt < 100 && result === undefined; attempt++) {
        try {
          const res = await fetch(`http://127.0.0.1:${String(port)}/`, { method: "POST", body: JSON.stringify(workerInput) });
          result = await res.json();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const { broker: _b, ...withoutBroker } = expected;
      expect(result, stderr).toEqual(withoutBroker);
      expect(otherSawAuthorization).toEqual([]);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      killGroup(child);
      if (child.exitCode === null && child.signalCode === null) await exited;
    }
    // The shim and the workerd binary it started are both gone: nothing outlives the test run.
    expect(await groupGone(child.pid ?? 0)).toBe(true);
  }, 90_000);
});
