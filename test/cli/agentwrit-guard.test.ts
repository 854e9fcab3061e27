/**
 * The `agentwrit-guard` command-line tool, run as a child process (the built bin of
 * @agentwrit/guard; `pnpm build` first) against the real dev broker, with real Ed25519 keys.
 * Every run asserts that no token (nor its signature segment) appears on stdout or stderr.
 */
import { execFile, spawn } from "node:child_process";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { startDevBroker, type CreatedAgent, type DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const testDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The path a package's manifest gives for one of its bins. */
function binOf(pkg: string, name: string): string {
  const manifestPath = require.resolve(`${pkg}/package.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { bin: Record<string, string> };
  const rel = manifest.bin[name];
  if (rel === undefined) throw new Error(`${pkg} declares no bin ${name}`);
  return join(dirname(manifestPath), rel);
}

const CLI = binOf("@agentwrit/guard", "agentwrit-guard");
const DEV_BROKER_CLI = binOf("@agentwrit/dev-broker", "agentwrit-dev-broker");

// The protocol's test vector (RFC 8037 key), as the broker keeps it at AA_SIGNING_KEY_PATH.
const VECTOR_PRIVATE = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
const VECTOR_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/** Every token a test hands to the CLI: none may ever come back. */
const secrets = new Set<string>();
function secret(token: string): string {
  secrets.add(token);
  const signature = token.slice(token.lastIndexOf(".") + 1);
  if (signature.length >= 16) secrets.add(signature);
  return token;
}

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with `stdin` piped in and a clean environment (plus `env`). */
function cli(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      for (const s of secrets) {
        if (stdout.includes(s) || stderr.includes(s)) reject(new Error(`agentwrit-guard ${args[0] ?? ""} printed a token or its signature`));
      }
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** A compact JWS signed with `key`, with any header and claims (for malformed and expired tokens). */
function jws(header: object, claims: object | string, key: KeyObject): string {
  const b64 = (s: string): string => Buffer.from(s).toString("base64url");
  const input = b64(JSON.stringify(header)) + "." + b64(typeof claims === "string" ? claims : JSON.stringify(claims));
  return secret(input + "." + sign(null, Buffer.from(input), key).toString("base64url"));
}

const dir = mkdtempSync(join(tmpdir(), "agentwrit-guard-cli-"));
const signing = generateKeyPairSync("ed25519");
const signingPem = String(signing.privateKey.export({ type: "pkcs8", format: "pem" }));
const signingFile = join(dir, "signing.key");
const publicFile = join(dir, "broker.pem");
let broker: DevBroker;
let delegator: CreatedAgent;
let delegate: CreatedAgent;
let delegated: string;
/** A broker that was started, then stopped: its port refuses connections. */
let deadUrl: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is not built: run pnpm build first`);
  writeFileSync(signingFile, signingPem, { mode: 0o600 });
  broker = await startDevBroker({ signingKey: signingPem, audience: "orders-api", issuer: "https://broker.test" });
  writeFileSync(publicFile, broker.publicKeyPem);
  delegator = await broker.createAgent({ orchId: "orch", taskId: "orders", scope: ["read:data:*", "write:data:order-7"] });
  delegate = await broker.createAgent({ orchId: "orch", taskId: "reports", scope: ["read:data:reports"] });
  secret(delegator.accessToken);
  secret(delegate.accessToken);
  delegated = secret((await broker.delegate(delegator.accessToken, { delegateTo: delegate.agentId, scope: ["read:data:*", "write:data:order-7"] })).accessToken);
  const dead = await startDevBroker();
  deadUrl = dead.url;
  await dead.close();
});

afterAll(async () => {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

const hybrid = (): string[] => ["--broker", broker.url, "--key", publicFile, "--audience", "orders-api", "--issuer", "https://broker.test"];

describe("agentwrit-guard pubkey", () => {
  it("a PKCS#8 private key in, only the public key out: the dev broker CLI's exact lines, kid included", async () => {
    const r = await cli(["pubkey", signingFile]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`# kid ${broker.kid}`);
    expect(lines[1]).toMatch(/^AGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=]+\\n-----END PUBLIC KEY-----"$/);
    expect(parseEnv(lines[1]!).AGENTWRIT_PUBLIC_KEY).toBe(broker.publicKeyPem.trim());
    expect(r.stdout).not.toContain("PRIVATE");
    const privateBody = signingPem.split("\n")[1]!;
    expect(r.stdout + r.stderr).not.toContain(privateBody);

    // The dev broker started with the same key prints the same two lines, from the same formatter.
    const child = spawn(process.execPath, [DEV_BROKER_CLI, "--port", "0", "--signing-key", signingFile], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    try {
      const end = Date.now() + 10_000;
      while (!out.includes("AGENTWRIT_ISSUER=")) {
        if (Date.now() > end) throw new Error("dev broker CLI printed no env file");
        await new Promise((res) => setTimeout(res, 25));
      }
      const devLines = out.split("\n").filter((l) => l.startsWith("# kid ") || l.startsWith("AGENTWRIT_PUBLIC_KEY="));
      expect(devLines).toEqual(lines);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("a public PEM, stdin, and the protocol's test vector give the same lines; the kid is the RFC 7638 thumbprint", async () => {
    const fromPrivate = (await cli(["pubkey", signingFile])).stdout;
    const fromPublic = await cli(["pubkey", publicFile]);
    const fromStdin = await cli(["pubkey", "-"], { stdin: signingPem });
    const fromPublicStdin = await cli(["pubkey", "-"], { stdin: broker.publicKeyPem });
    for (const r of [fromPublic, fromStdin, fromPublicStdin]) expect(r).toEqual({ code: 0, stdout: fromPrivate, stderr: "" });
    const vector = await cli(["pubkey", "-"], { stdin: VECTOR_PRIVATE });
    expect(vector.stdout).toBe(
      `# kid ${VECTOR_KID}\nAGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\\n-----END PUBLIC KEY-----"\n`,
    );
  });

  it("the output, sourced by sh (set -a; . file) or read by node --env-file, configures a guard that verifies the broker's tokens", async () => {
    const envFile = join(dir, "guard.env");
    writeFileSync(envFile, (await cli(["pubkey", signingFile])).stdout);
    const script = `
      import { createGuard, optionsFromEnv } from "@agentwrit/guard";
      let token = "";
      for await (const chunk of process.stdin) token += chunk;
      const guard = createGuard({ ...optionsFromEnv(process.env), audience: "orders-api", issuer: "https://broker.test" });
      const agent = await guard.authenticate("Bearer " + token);
      process.stdout.write(JSON.stringify({ mode: guard.mode, kids: guard.describe().kids, agentId: agent.agentId }));`;
    const runChild = (file: string, args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = execFile(file, args, { cwd: testDir, env: { PATH: process.env.PATH ?? "" } }, (err, out, errOut) =>
          err === null ? resolve(out) : reject(new Error(`${err.message}\n${errOut}`)),
        );
        child.stdin?.end(delegate.accessToken);
      });
    const viaSh = await runChild("sh", ["-c", 'set -a; . "$0"; set +a; exec "$1" --input-type=module -e "$2"', envFile, process.execPath, script]);
    const viaEnvFile = await runChild(process.execPath, [`--env-file=${envFile}`, "--input-type=module", "-e", script]);
    for (const out of [viaSh, viaEnvFile]) {
      expect(JSON.parse(out)).toEqual({ mode: "local", kids: [broker.kid], agentId: delegate.agentId });
    }
  });

  it("refuses what is not an Ed25519 key with one line and exit 1, never echoing key material; usage mistakes exit 2", async () => {
    const rsa = String(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }));
    const encrypted = String(signing.privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }));
    const ecPublic = String(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }));
    const cases: [string, RegExp][] = [
      [rsa, /the private key is rsa; the broker signs with Ed25519/],
      [encrypted, /encrypted: decrypt it first/],
      [ecPublic, /EC \(ECDSA\) key/],
      ["not a key at all", /expected PEM SPKI/],
    ];
    for (const [input, message] of cases) {
      const r = await cli(["pubkey", "-"], { stdin: input });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      if (input.includes("-----")) expect(r.stderr).not.toContain(input.split("\n")[1]!.slice(0, 24));
    }
    const missing = await cli(["pubkey", join(dir, "nope.key")]);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toContain("cannot read key file");
    const noArg = await cli(["pubkey"]);
    expect(noArg.code).toBe(2);
    expect(noArg.stderr).toContain("Usage: agentwrit-guard pubkey");
  });
});

describe("agentwrit-guard inspect", () => {
  it("explains a delegated token, UNVERIFIED: header, claims, times, scopes, the chain; never the token or its signature", async () => {
    const r = await cli(["inspect", "-"], { stdin: delegated + "\n" });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const out = r.stdout;
    expect(out.split("\n")[0]).toMatch(/^UNVERIFIED/);
    expect(out).toMatch(new RegExp(`kid +${broker.kid}`));
    expect(out).toMatch(/alg +EdDSA/);
    expect(out).toContain("signature  present (not shown, not checked)");
    expect(out).toContain(`sub         ${delegate.agentId}  (agent, trust domain agentwrit.local)`);
    expect(out).toMatch(/iss +https:\/\/broker\.test/);
    expect(out).toMatch(/aud +orders-api/);
    expect(out).toMatch(/exp +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\(in \d+ (s|min)/);
    expect(out).toMatch(/iat +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\((now|\d+ s ago)\)/);
    expect(out).toContain("status      valid now");
    expect(out).toContain("Scope (2)");
    expect(out).toMatch(/read:data:\* +read · data · \* \(any identifier\)/);
    expect(out).toMatch(/write:data:order-7 +write · data · order-7/);
    expect(out).toContain("Delegation chain (depth 1; chain_hash matches the chain; record signatures not checked)");
    expect(out).toContain(`1. ${delegator.agentId}`);
    expect(out).toContain(`→ ${delegate.agentId}  (this token's subject)`);
    expect(out).toContain("Structure: well formed");

    const json = await cli(["inspect", "--json"], { stdin: delegated });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      verified: false,
      wellFormed: true,
      refusal: null,
      header: { alg: "EdDSA", kid: broker.kid },
      subject: { id: delegate.agentId, agent: true, trustDomain: "agentwrit.local" },
      time: { status: "valid" },
      delegation: { depth: 1, chainHash: { matches: true }, records: [{ agent: delegator.agentId, scope: ["read:data:*", "write:data:order-7"], signaturePresent: true }] },
    });
    expect(report.scopes.map((s: { scope: string }) => s.scope)).toEqual(["read:data:*", "write:data:order-7"]);
    // A token given as an argument (not recommended) is read the same way and not echoed either.
    const withoutNow = (text: string): string => text.replace(/\((now|in [^)]+|[^()]+ ago)\)/g, "(…)");
    expect(withoutNow((await cli(["inspect", delegated])).stdout)).toBe(withoutNow(out));
  });

  it("reports core's strict verdict: malformed tokens exit 1 with the code and reason; expired ones say so", async () => {
    const key = signing.privateKey;
    const claims = { sub: delegate.agentId, jti: "j1", exp: Math.floor(Date.now() / 1000) + 60, scope: ["read:data:x"] };
    const noneAlg = jws({ alg: "none", kid: broker.kid }, claims, key);
    const floatExp = jws({ alg: "EdDSA", kid: broker.kid }, `{"sub":"${delegate.agentId}","jti":"j","exp":4.1e9,"scope":[]}`, key);
    const badScope = jws({ alg: "EdDSA", kid: broker.kid }, { ...claims, scope: ["read:data"] }, key);
    const expired = jws({ alg: "EdDSA", kid: broker.kid }, { ...claims, iat: 1_700_000_000, exp: 1_700_000_300 }, key);
    const a = await cli(["inspect"], { stdin: noneAlg });
    expect(a.code).toBe(1);
    expect(a.stdout).toContain('Structure: REFUSED as unsupported_alg: the header alg is "none"; only "EdDSA" is accepted');
    const b = await cli(["inspect", "-"], { stdin: floatExp });
    expect(b.code).toBe(1);
    expect(b.stdout).toContain("REFUSED as malformed_claims: a number in the claims has a fraction or an exponent");
    const c = await cli(["inspect", "--json", "-"], { stdin: badScope });
    expect(c.code).toBe(1);
    expect(JSON.parse(c.stdout)).toMatchObject({ wellFormed: false, refusal: { code: "malformed_claims", reason: "scope[0] is not action:resource:identifier" } });
    expect((await cli(["inspect"], { stdin: badScope })).stdout).toMatch(/read:data +NOT a valid action:resource:identifier/);
    const d = await cli(["inspect"], { stdin: expired });
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/status +EXPIRED: the token expired at 2023-11-14T22:18:20.000Z/);
    expect(d.stdout).toMatch(/exp +2023-11-14T22:18:20Z {2}\(\d+ d( \d+ h)? ago\)/);
    expect(d.stdout).toMatch(/lifetime +5 min\n/);
    const e = await cli(["inspect"], { stdin: secret("not.a-token") });
    expect(e.code).toBe(1);
    expect(e.stdout).toContain("Structure: REFUSED as malformed_token");
  });

  it("escapes control characters and bidi overrides from claims, so a token cannot drive the terminal", async () => {
    const evil = jws({ alg: "EdDSA", kid: broker.kid }, { sub: "spiffe://agentwrit.local/agent/a/b/c\u001b[2J\u202e", jti: "j", exp: 4_000_000_000, scope: ["read:data:x"], note: "\u0007bell" }, signing.privateKey);
    const r = await cli(["inspect"], { stdin: evil });
    // eslint-disable-next-line no-control-regex -- control characters are what must be absent
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(r.stdout).toContain("\\u001b[2J\\u202e");
    expect(r.stdout).toMatch(/note +\\u0007bell {2}\(not a broker claim\)/);
    const json = await cli(["inspect", "--json"], { stdin: evil });
    // eslint-disable-next-line no-control-regex -- control characters are what must be absent
    expect(json.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\uffff]/);
    expect(JSON.parse(json.stdout).claims.note).toBe("\u0007bell");
  });
});

describe("agentwrit-guard check", () => {
  it("allow: exit 0 with the agent, the source and the requirement met (hybrid, broker and local)", async () => {
    const r = await cli(["check", "-", ...hybrid(), "--require", "write:data:order-{id}", "--param", "id=7"], { stdin: delegated });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^ALLOW\n/);
    expect(r.stdout).toContain(`agent      ${delegate.agentId}`);
    expect(r.stdout).toContain("required   write:data:order-{id}  (id=7)");
    expect(r.stdout).toContain(`delegated  depth 1: ${delegator.agentId} → ${delegate.agentId}`);
    expect(r.stdout).toContain(`Guard: mode hybrid; broker ${broker.url}; kid ${broker.kid}; audience orders-api; issuer "https://broker.test"`);
    const local = await cli(["check", "--key", publicFile, "--json"], { stdin: delegated });
    expect(local.code).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ decision: "allow", status: 200, code: null, agent: { agentId: delegate.agentId, source: "local", delegationDepth: 1 }, guard: { mode: "local", kids: [broker.kid] } });
    const viaBroker = await cli(["check", "--broker", broker.url, "--json"], { stdin: delegated });
    expect(JSON.parse(viaBroker.stdout)).toMatchObject({ decision: "allow", agent: { source: "broker" }, guard: { mode: "broker" } });
  });

  it("deny: exit 1 with the code and the operator's reason (403 missing scope, 401 wrong key, audience, expiry, revocation)", async () => {
    const scope = await cli(["check", ...hybrid(), "--require", "write:data:order-{id}", "--param", "id=8"], { stdin: delegated });
    expect(scope.code).toBe(1);
    expect(scope.stdout).toMatch(/^DENY {2}403 insufficient_scope\n {2}reason {3}the agent lacks write:data:order-8\n {2}missing {2}write:data:order-8\n/);

    const other = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" });
    const wrongKey = await cli(["check", `--key=${String(other)}`, "--json"], { stdin: delegated });
    expect(wrongKey.code).toBe(1);
    const wk = JSON.parse(wrongKey.stdout);
    expect(wk).toMatchObject({ decision: "deny", status: 401, code: "unknown_kid" });
    expect(wk.reason).toContain(broker.kid);

    const audience = await cli(["check", "--key", publicFile, "--audience", "billing-api"], { stdin: delegated });
    expect(audience.code).toBe(1);
    expect(audience.stdout).toContain("DENY  401 audience_mismatch");
    expect(audience.stdout).toContain('aud is ["orders-api"], expected one of ["billing-api"]');

    const expired = jws({ alg: "EdDSA", typ: "JWT", kid: broker.kid }, { iss: "", sub: delegate.agentId, jti: "old", iat: 1_700_000_000, exp: 1_700_000_300, scope: ["read:data:x"] }, signing.privateKey);
    const exp = await cli(["check", "--key", publicFile, "-"], { stdin: expired });
    expect(exp.code).toBe(1);
    expect(exp.stdout).toMatch(/DENY {2}401 token_expired\n {2}reason {2}the token expired at 2023-11-14T22:18:20.000Z/);

    const revoked = await broker.createAgent({ orchId: "orch", taskId: "revoked", scope: ["read:data:x"] });
    secret(revoked.accessToken);
    const jti = JSON.parse(Buffer.from(revoked.accessToken.split(".")[1]!, "base64url").toString()).jti as string;
    await broker.revoke("token", jti);
    const inactive = await cli(["check", "--broker", broker.url, "--json"], { stdin: revoked.accessToken });
    expect(inactive.code).toBe(1);
    expect(JSON.parse(inactive.stdout)).toMatchObject({ decision: "deny", status: 401, code: "token_inactive" });

    const garbage = await cli(["check", "--key", publicFile], { stdin: secret("abc.def") });
    expect(garbage.code).toBe(1);
    expect(garbage.stdout).toContain("DENY  401 malformed_token");
  });

  it("error: exit 2 on a 503 (broker down, broker URL with /v1) with the reason", async () => {
    const down = await cli(["check", "--broker", deadUrl, "--key", publicFile], { stdin: delegated });
    expect(down.code).toBe(2);
    expect(down.stdout).toMatch(/^ERROR {2}503 broker_unavailable\n {2}reason {2}POST http:\/\/127\.0\.0\.1:\d+\/v1\/token\/validate failed: TypeError \(ECONNREFUSED\)/);
    const v1 = await cli(["check", "--broker", broker.url + "/v1", "--json"], { stdin: delegated });
    expect(v1.code).toBe(2);
    expect(JSON.parse(v1.stdout)).toMatchObject({ decision: "error", status: 503, code: "broker_misconfigured" });
  });

  it("usage and configuration mistakes exit 2 on stderr, naming the mistake and never the token", async () => {
    const cases: [string[], string, RegExp][] = [
      [["check", "--broker", broker.url, "--require", "write:data:order-{id}"], delegated, /--require uses \{id\}: pass --param id=…/],
      [["check", "--broker", broker.url, "--param", "id=7"], delegated, /--param id: no such \{placeholder\} in --require/],
      [["check", "--broker", broker.url, "--require", "write:data"], delegated, /--require: scope requirement "write:data" is not action:resource:identifier/],
      [["check", "--broker", broker.url, "--bogus"], delegated, /unknown option --bogus\n\nUsage: agentwrit-guard check/],
      [["check", "--broker", broker.url, delegated, delegated], "", /too many arguments \(at most 1; arguments are not shown\)/],
      [["check", `--${delegated}`], "", /unknown option \(not shown\)\n/],
      [["check"], delegated, /no guard configuration: pass --broker and\/or --key/],
      [["check", "--broker", "ftp://x"], delegated, /brokerUrl must be an http\(s\) URL/],
      [["check", "--key", signingFile], delegated, /a private key was given; configure the public key only \(agentwrit-guard pubkey prints it\)/],
      [["check", "--key", join(dir, "missing.pem")], delegated, /--key: no such file/],
      [["check", "--broker", broker.url, "--log", "loud"], delegated, /--log must be debug, info, warn or error/],
      [["check", "--key", String(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }))], delegated, /the value of --key starts with "-": write --key=<value>/],
    ];
    for (const [args, stdin, message] of cases) {
      const r = await cli(args, { stdin });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    }
  });

  it("with neither --broker nor --key, reads the AGENTWRIT_* variables as the adapters do (the pubkey line included); --log writes to stderr only", async () => {
    const line = (await cli(["pubkey", signingFile])).stdout.split("\n")[1]!;
    // As sh leaves it after `. file`: the two characters \n kept literally.
    const escapedPem = line.slice('AGENTWRIT_PUBLIC_KEY="'.length, -1);
    const env = { AGENTWRIT_BROKER_URL: broker.url, AGENTWRIT_PUBLIC_KEY: escapedPem, AGENTWRIT_AUDIENCE: "orders-api", AGENTWRIT_ISSUER: "https://broker.test", AGENTWRIT_LOG: "debug" };
    const r = await cli(["check", "--json", "--require", "read:data:anything"], { stdin: delegated, env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ decision: "allow", guard: { mode: "hybrid", kids: [broker.kid], audience: ["orders-api"], issuer: "https://broker.test" } });
    expect(r.stderr).toContain("agentwrit: guard configured");
    expect(r.stderr).toContain("agentwrit: allowed");
  });
});

describe("agentwrit-guard probe", () => {
  it("ok: exit 0 with the broker's version and latency; down: exit 1 with the reason; a bad URL: exit 2", async () => {
    const ok = await cli(["probe", "--broker", broker.url]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^ok {4}${broker.url.replace(/\./g, "\\.")} {2}broker 2\\.0\\.0 {2}[\\d.]+ ms\\n$`));
    const okJson = JSON.parse((await cli(["probe", "--json"], { env: { AGENTWRIT_BROKER_URL: broker.url } })).stdout);
    expect(okJson).toMatchObject({ ok: true, brokerUrl: broker.url, version: "2.0.0", reason: null });
    expect(okJson.latencyMs).toBeGreaterThanOrEqual(0);

    const down = await cli(["probe", "--broker", deadUrl]);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^DOWN {2}http:\/\/127\.0\.0\.1:\d+ {2}GET http:\/\/127\.0\.0\.1:\d+\/v1\/health failed: TypeError \(ECONNREFUSED\)/);
    const v1 = await cli(["probe", "--broker", broker.url + "/v1", "--json"]);
    expect(v1.code).toBe(1);
    expect(JSON.parse(v1.stdout).reason).toContain("answered HTTP 404: brokerUrl must be the broker's base URL");

    for (const args of [["probe"], ["probe", "--broker", "not a url"], ["probe", "--broker", broker.url, "extra"]]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
    }
  });
});

describe("agentwrit-guard", () => {
  it("--help and --version on stdout (exit 0); no command or an unknown one: usage on stderr, exit 2", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: agentwrit-guard <command>");
    expect(help.stdout).toContain("pipe them on stdin");
    const version = await cli(["--version"]);
    const manifest = JSON.parse(readFileSync(require.resolve("@agentwrit/guard/package.json"), "utf8")) as { version: string };
    expect(version).toEqual({ code: 0, stdout: manifest.version + "\n", stderr: "" });
    for (const command of ["pubkey", "inspect", "check", "probe"]) {
      const r = await cli([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: agentwrit-guard ${command}`);
    }
    for (const args of [[], ["verify"], [delegated]]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("Usage: agentwrit-guard <command>");
    }
  });
});
