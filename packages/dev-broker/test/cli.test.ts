/** The `agentwrit-dev-broker` CLI (runs the built dist/cli.js; `pnpm build` first). */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAppSpec } from "../src/cli-args.js";

const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli.js");
const built = existsSync(cli);
if (!built && process.env.CI !== "true") console.log(`SKIP dev-broker CLI process tests: ${cli} not built; run pnpm build`);

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("parseAppSpec", () => {
  it("splits name:scope,scope at the first colon", () => {
    expect(parseAppSpec("demo:read:data:*,write:data:x")).toEqual({ name: "demo", scopes: ["read:data:*", "write:data:x"] });
    expect(() => parseAppSpec("demo")).toThrow(/--app/);
    expect(() => parseAppSpec(":read:data:*")).toThrow(/--app/);
  });
});

describe.skipIf(!built && process.env.CI !== "true")("agentwrit-dev-broker process", () => {
  it("prints URL, kid, public key (PEM and JWK) and app credentials; stops cleanly on SIGTERM", async () => {
    const p = run(["--port", "0", "--issuer", "iss-cli", "--audience", "aud-cli", "--app", "cli-app:read:data:*"]);
    await waitFor(() => p.output().includes("AGENTWRIT_CLIENT_SECRET="));
    const out = p.output();
    const get = (k: string) => new RegExp(`^\\s*${k}=(.*)$`, "m").exec(out)?.[1] ?? "";
    const url = get("AGENTWRIT_BROKER_URL");
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toMatch(/-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]+\n-----END PUBLIC KEY-----/);
    const jwk = JSON.parse(get("AGENTWRIT_PUBLIC_KEY_JWK"));
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: get("AGENTWRIT_KID") });
    const auth = await fetch(url + "/v1/app/auth", { method: "POST", body: JSON.stringify({ client_id: get("AGENTWRIT_CLIENT_ID"), client_secret: get("AGENTWRIT_CLIENT_SECRET") }) });
    expect(auth.status).toBe(200);
    const token = ((await auth.json()) as { access_token: string }).access_token;
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid).toBe(jwk.kid);
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ iss: "iss-cli", aud: ["aud-cli"] });
    expect(out).not.toContain(token);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("--help exits 0; a bad --app exits 2 with usage", async () => {
    const h = run(["--help"]);
    expect(await h.exited).toBe(0);
    expect(h.output()).toContain("Usage: agentwrit-dev-broker");
    const bad = run(["--port", "0", "--app", "nocolon"]);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain("--app expects");
  });
});
