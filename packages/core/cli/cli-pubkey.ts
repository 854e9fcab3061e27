/**
 * `agentwrit-guard pubkey <signing.key | public.pem | ->`: the broker's public key as the env
 * lines a guard reads (`# kid …` and `AGENTWRIT_PUBLIC_KEY="…"`, the dev broker's exact lines).
 * A private key goes in (the PKCS#8 PEM at the broker's `AA_SIGNING_KEY_PATH`); only its public
 * half comes out. No part of a private key is ever printed, in output or in an error.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { CommandError, MAX_KEY_BYTES, NAME, parseCommandArgs, readBoundedFile, readStdin, UsageError, type Outcome } from "./cli-io.js";
import { publicKeyEnvLines, publicKeyToX } from "./index.js";

export const PUBKEY_USAGE = `Usage: ${NAME} pubkey <signing.key | public.pem | ->

Prints the broker's Ed25519 public key as two env-file lines, the same ones the dev broker prints:
  # kid <RFC 7638 thumbprint>
  AGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\\n…\\n-----END PUBLIC KEY-----"

The input is the broker's signing key (PEM PKCS#8 "PRIVATE KEY", as AA_SIGNING_KEY_PATH holds it)
or its public key (PEM SPKI, a JWK as JSON, or the raw 32-byte key in base64); - reads stdin.
Only the public key is printed.

  docker exec agentwrit cat /data/signing.key | ${NAME} pubkey - > guard.env
  set -a; . ./guard.env; set +a

Exit status: 0 printed, 1 the input is not an Ed25519 key, 2 usage.`;

const PRIVATE_PEM = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----/;

/** The public key of a PEM private key; the messages say what is wrong, never what was read. */
function publicOfPrivate(text: string, kind: string): KeyObject {
  if (kind === "ENCRYPTED ") throw new CommandError("the private key is encrypted: decrypt it first (openssl pkey -in signing.key)");
  if (kind === "OPENSSH ") throw new CommandError('the private key is in OpenSSH format; the broker keeps PEM PKCS#8 ("BEGIN PRIVATE KEY")');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: "pem" });
  } catch {
    throw new CommandError("the input holds a PEM private key that cannot be read (damaged, or not PKCS#8)");
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new CommandError(`the private key is ${key.asymmetricKeyType ?? "of an unknown type"}; the broker signs with Ed25519`);
  }
  return createPublicKey(key);
}

/** The public key of any public form the guard accepts, read by core's own key rules. */
function publicOfPublic(text: string): KeyObject {
  let x: string;
  try {
    x = publicKeyToX(text, "the input");
  } catch (e) {
    throw new CommandError(e instanceof Error ? e.message : "the input is not an Ed25519 public key");
  }
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}

/** The two env lines for a key file's (or stdin's) text. */
export function pubkeyLines(text: string): [string, string] {
  const privateKind = PRIVATE_PEM.exec(text)?.[1];
  const key = privateKind === undefined ? publicOfPublic(text) : publicOfPrivate(text, privateKind);
  return publicKeyEnvLines(String(key.export({ type: "spki", format: "pem" })));
}

export async function pubkey(argv: readonly string[]): Promise<Outcome | "help"> {
  const { values, positionals } = parseCommandArgs(argv, { help: { type: "boolean", short: "h" } }, 1, PUBKEY_USAGE);
  if (values.help === true) return "help";
  const source = positionals[0];
  if (source === undefined) throw new UsageError("name the key file, or - to read stdin", PUBKEY_USAGE);
  const text = source === "-" ? await readStdin(MAX_KEY_BYTES, "the key") : readBoundedFile(source, MAX_KEY_BYTES, "key file");
  if (text.trim() === "") throw new CommandError("the key input is empty");
  return { stdout: pubkeyLines(text).join("\n") + "\n", exitCode: 0 };
}
