/** The `agentwrit-dev-broker` CLI (runs the built dist/cli.js; `pnpm build` first). */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { createGuard, ed25519Kid } from "@agentwrit/guard";
import { afterAll, describe, expect, it } from "vitest";
import { parseAppSpec } from "../src/cli-args.js";
import { envCommentLine as commentLine, envLine, pemEnvLine } from "@agentwrit/guard";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(pkg, "dist", "cli.js");
const built = existsSync(cli);
if (!built && process.env.CI !== "true") console.log(`SKIP dev-broker CLI process tests: ${cli} not built; run pnpm build`);

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
});

function run(args: string[]): Run {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = token === undefined ? {} : { Authorization: "Bearer " + token };
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body), headers });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Registers an agent over HTTP with the admin secret: launch token → challenge → signed register. */
async function registerAgent(url: string, adminSecret: string): Promise<{ agentId: string; token: string }> {
  const admin = (await post(url + "/v1/admin/auth", { secret: adminSecret })).json.access_token as string;
  const lt = await post(url + "/v1/admin/launch-tokens", { agent_name: "cli-test", allowed_scope: ["read:data:*"] }, admin);
  const nonce = ((await (await fetch(url + "/v1/challenge")).json()) as { nonce: string }).nonce;
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const reg = await post(url + "/v1/register", {
    launch_token: lt.json.launch_token,
    nonce,
    public_key: Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url").toString("base64"),
    signature: sign(null, Buffer.from(nonce, "hex"), privateKey).toString("base64"),
    orch_id: "cli",
    task_id: "env",
    requested_scope: ["read:data:x"],
  });
  expect(reg.status).toBe(200);
  return { agentId: reg.json.agent_id as string, token: reg.json.access_token as string };
}

/** Every stdout line is `KEY="value"` (nothing sh or dotenv would read differently) or a `#` comment. */
const ENV_FILE_LINE = /^(?:#[^\n]*|[A-Z_][A-Z0-9_]*="[^"$`\\]*(?:\\n[^"$`\\]*)*")$/;

describe("parseAppSpec", () => {
  it("splits name:scope,scope at the first colon", () => {
    expect(parseAppSpec("demo:read:data:*,write:data:x")).toEqual({ name: "demo", scopes: ["read:data:*", "write:data:x"] });
    expect(() => parseAppSpec("demo")).toThrow(/--app/);
    expect(() => parseAppSpec(":read:data:*")).toThrow(/--app/);
  });
});

describe("env-file lines", () => {
  it("KEY=\"value\" for safe values; refuses the characters sh and dotenv read differently", () => {
    expect(envLine("AGENTWRIT_ISSUER", "")).toBe('AGENTWRIT_ISSUER=""');
    expect(envLine("A_1", "https://x.example/a b#c'd!")).toBe('A_1="https://x.example/a b#c\'d!"');
    for (const [ch, name] of [['"', "'\"'"], ["$", "'$'"], ["`", "'`'"], ["\\", "'\\'"], ["\n", "a line break"], ["\r", "a carriage return"]]) {
      expect(() => envLine("K", `a${ch!}b`)).toThrow(`K cannot be written to an env file: the value contains ${name!}`);
    }
    expect(() => envLine("lower", "x")).toThrow(/invalid environment variable name/);
  });

  it("a PEM on one line with literal \\n; comments lose their control characters", () => {
    expect(pemEnvLine("K", "-----BEGIN X-----\r\nAAAA\nBBBB\n-----END X-----\n")).toBe('K="-----BEGIN X-----\\nAAAA\\nBBBB\\n-----END X-----"');
    expect(() => pemEnvLine("K", "-----BEGIN X-----\n$(x)\n")).toThrow(/'\$'/);
    expect(commentLine("a\nb\rc\u0000d")).toBe("# a b c d");
  });
});

describe.skipIf(!built && process.env.CI !== "true")("agentwrit-dev-broker process", () => {
  it("prints an env file (URL, kid comment, one-line PEM, issuer, audience, app credentials); stops cleanly on SIGTERM", async () => {
    const p = run(["--port", "0", "--issuer", "iss-cli", "--audience", "aud-cli", "--app", "cli-app:read:data:*"]);
    await waitFor(() => p.stdout().includes("AGENTWRIT_CLIENT_SECRET="));
    const out = p.stdout();
    for (const line of out.trimEnd().split("\n")) expect(line).toMatch(ENV_FILE_LINE);
    const env = parseEnv(out); // dotenv semantics, as `node --env-file` reads it
    expect(env.AGENTWRIT_BROKER_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.AGENTWRIT_PUBLIC_KEY).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]+\n-----END PUBLIC KEY-----$/);
    expect(env).toMatchObject({ AGENTWRIT_ISSUER: "iss-cli", AGENTWRIT_AUDIENCE: "aud-cli" });
    expect(env.AGENTWRIT_ADMIN_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(out).toMatch(/^AGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=]+\\n-----END PUBLIC KEY-----"$/m);
    // The kid comment is the RFC 7638 thumbprint of that key, and the kid of every token.
    const kid = /^# kid (\S+)$/m.exec(out)?.[1];
    const x = createPublicKey(env.AGENTWRIT_PUBLIC_KEY!).export({ format: "jwk" }).x!;
    expect(kid).toBe(await ed25519Kid(x));
    const url = env.AGENTWRIT_BROKER_URL!;
    const auth = await post(url + "/v1/app/auth", { client_id: env.AGENTWRIT_CLIENT_ID, client_secret: env.AGENTWRIT_CLIENT_SECRET });
    expect(auth.status).toBe(200);
    const token = auth.json.access_token as string;
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid).toBe(kid);
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ iss: "iss-cli", aud: ["aud-cli"] });
    expect(out).not.toContain(token);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toContain("received SIGTERM");
    expect(p.stdout()).toBe(out); // status messages never reach stdout
  });

  it("the output sourced by sh (set -a; . file) gives a PEM that the adapters' env reader and createGuard accept", async () => {
    const p = run(["--port", "0", "--audience", "aud-sh"]);
    await waitFor(() => p.stdout().includes("AGENTWRIT_ADMIN_SECRET="));
    const dir = mkdtempSync(join(tmpdir(), "dev-broker-env-"));
    try {
      const file = join(dir, "broker.env");
      writeFileSync(file, p.stdout());
      const env = parseEnv(p.stdout());
      const agent = await registerAgent(env.AGENTWRIT_BROKER_URL!, env.AGENTWRIT_ADMIN_SECRET!);
      // A child that knows nothing but what sh exported from the file (and the token to check).
      const script = `
        import { createGuard, optionsFromEnv } from "@agentwrit/guard";
        const guard = createGuard(optionsFromEnv(process.env));
        const id = await guard.authenticate("Bearer " + process.env.AGENT_TOKEN);
        process.stdout.write(JSON.stringify({ mode: guard.mode, agentId: id.agentId, key: process.env.AGENTWRIT_PUBLIC_KEY }));`;
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          "sh",
          ["-c", 'set -a; . "$0"; set +a; exec "$1" --input-type=module -e "$2"', file, process.execPath, script],
          { cwd: pkg, env: { PATH: process.env.PATH ?? "", AGENT_TOKEN: agent.token } },
          (err, out, errOut) => (err === null ? resolve(out) : reject(new Error(`${err.message}\n${errOut}`))),
        );
      });
      const got = JSON.parse(stdout) as { mode: string; agentId: string; key: string };
      expect(got).toMatchObject({ mode: "hybrid", agentId: agent.agentId });
      // sh keeps the two characters \n literally; the env reader turns them back into line breaks.
      expect(got.key).toMatch(/^-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=]+\\n-----END PUBLIC KEY-----$/);
      // The dotenv reading (real line breaks) is accepted as is.
      const local = createGuard({ publicKey: env.AGENTWRIT_PUBLIC_KEY!, audience: "aud-sh", issuer: "" });
      expect((await local.authenticate("Bearer " + agent.token)).agentId).toBe(agent.agentId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      p.child.kill("SIGTERM");
      await p.exited;
    }
  });

  it("a port already in use: one line on stderr naming the address, exit 1, no usage text", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const p = run(["--port", String(port)]);
      expect(await p.exited).toBe(1);
      expect(p.stdout()).toBe("");
      expect(p.stderr()).toBe(`agentwrit-dev-broker: 127.0.0.1:${String(port)} is already in use (EADDRINUSE): stop what is listening there or pass another --port\n`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("--help exits 0; a bad --app, --port or a value no env file can hold exits 2 with usage", async () => {
    const h = run(["--help"]);
    expect(await h.exited).toBe(0);
    expect(h.stdout()).toContain("Usage: agentwrit-dev-broker");
    const cases: [string[], string][] = [
      [["--port", "0", "--app", "nocolon"], "--app expects"],
      [["--port", "0", "--app", "Bad_Name:a:b:c"], "--app Bad_Name: dev broker answered 400 on /v1/admin/apps: invalid app name"],
      [["--port", "x"], '--port expects an integer, got "x"'],
      [["--port", "0", "--issuer", 'a"b'], "--issuer: AGENTWRIT_ISSUER cannot be written to an env file: the value contains '\"'"],
      [["--port", "0", "--audience", "$(id)"], "--audience: AGENTWRIT_AUDIENCE cannot be written to an env file: the value contains '$'"],
      [["--port", "0", "--host", "0.0.0.0"], "host must be a loopback address"],
      [["--port", "0", "--signing-key", join(pkg, "package.json")], '--signing-key: signingKey must be a PEM PKCS#8 "PRIVATE KEY"'],
      [["--bogus"], "Unknown option '--bogus'"],
    ];
    for (const [args, message] of cases) {
      const bad = run(args);
      expect(await bad.exited, args.join(" ")).toBe(2);
      expect(bad.stdout(), args.join(" ")).toBe("");
      expect(bad.stderr(), args.join(" ")).toContain(message);
      expect(bad.stderr()).toContain("Usage: agentwrit-dev-broker");
    }
  });
});
