/** Env-file lines shared by the dev broker's CLI and `agentwrit-guard pubkey`. */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { parseEnv } from "node:util";
import { describe, expect, it } from "vitest";
import { createGuard, envCommentLine, envLine, optionsFromEnv, pemEnvLine, publicKeyEnvLines } from "../src/index.js";

// The protocol's test vector (RFC 8037 key): PKCS#8 as the broker keeps it, and its kid.
const PRIVATE_PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
const PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
const KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

describe("env lines", () => {
  it("publicKeyEnvLines: '# kid <thumbprint>' then a one-line PEM that dotenv and the adapters' env reader both accept", () => {
    const pem = String(createPublicKey(createPrivateKey(PRIVATE_PEM)).export({ type: "spki", format: "pem" }));
    expect(pem).toBe(PUBLIC_PEM);
    const [kid, line] = publicKeyEnvLines(pem);
    expect(kid).toBe(`# kid ${KID}`);
    expect(line).toBe('AGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\\n-----END PUBLIC KEY-----"');
    // dotenv expands \n; sh keeps it literally and optionsFromEnv turns it back: both give the kid.
    const dotenv = parseEnv(line).AGENTWRIT_PUBLIC_KEY;
    expect(createGuard({ publicKey: dotenv }).describe().kids).toEqual([KID]);
    const literal = line.slice('AGENTWRIT_PUBLIC_KEY="'.length, -1);
    expect(createGuard(optionsFromEnv({ AGENTWRIT_PUBLIC_KEY: literal })).describe().kids).toEqual([KID]);
  });

  it("publicKeyEnvLines refuses anything but an Ed25519 public PEM, never echoing it", () => {
    expect(() => publicKeyEnvLines(PRIVATE_PEM)).toThrow(/private key/);
    expect(() => publicKeyEnvLines("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")).toThrow(TypeError);
    const ec = String(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }));
    let message = "";
    try {
      publicKeyEnvLines(ec);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/EC \(ECDSA\)/);
    expect(message).not.toContain(ec.split("\n")[1]!.slice(0, 20));
  });

  it("envLine refuses what sh and dotenv would read differently; comments lose control characters", () => {
    expect(envLine("A_B", "x y")).toBe('A_B="x y"');
    for (const bad of ['"', "$", "`", "\\", "\n", "\r"]) expect(() => envLine("A", `a${bad}b`)).toThrow(TypeError);
    expect(() => envLine("a-b", "x")).toThrow(/invalid environment variable name/);
    expect(() => pemEnvLine("K", "-----BEGIN X-----\n$\n-----END X-----")).toThrow(/'\$'/);
    expect(envCommentLine("a\nb\u001b[31mc")).toBe("# a b [31mc");
  });
});
