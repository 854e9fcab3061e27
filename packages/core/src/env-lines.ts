/**
 * Lines of an env file that POSIX `sh` (`set -a; . ./broker.env`) and dotenv readers (the
 * `dotenv` package, Node's `--env-file` and `util.parseEnv`) read the same way: `KEY="value"`
 * lines and `#` comments, nothing else. The dev broker's CLI and `agentwrit-guard pubkey` both
 * write through these functions, so their lines are identical.
 *
 * Inside double quotes `sh` gives `"`, `$`, `` ` `` and `\` a meaning that dotenv does not, so
 * a value holding one of them (or a line break) is refused rather than written ambiguously. A
 * PEM is written on one line with its line breaks as the two characters `\n`: `sh` keeps them
 * literally (which the adapters' environment reader turns back into line breaks), dotenv expands
 * them; both yield a PEM the guard accepts.
 */
import { ed25519KidSync, publicKeyToX } from "./keys.js";

const KEY = /^[A-Z_][A-Z0-9_]*$/;
const UNSAFE = /["$`\\\r\n]/;

function describeChar(ch: string): string {
  return ch === "\n" ? "a line break" : ch === "\r" ? "a carriage return" : `'${ch}'`;
}

/**
 * `KEY="value"`, readable alike by `sh` and dotenv.
 * @throws TypeError naming the character when the value cannot be written safely
 */
export function envLine(key: string, value: string): string {
  if (!KEY.test(key)) throw new TypeError(`invalid environment variable name ${JSON.stringify(key)}`);
  const bad = UNSAFE.exec(value);
  if (bad !== null) throw new TypeError(`${key} cannot be written to an env file: the value contains ${describeChar(bad[0])}`);
  return `${key}="${value}"`;
}

/** A PEM on one line, its line breaks written as the two characters `\n`. */
export function pemEnvLine(key: string, pem: string): string {
  const lines = pem.trim().split(/\r?\n/);
  // Validate each line on its own, then join with the literal escape.
  for (const line of lines) envLine(key, line);
  return `${key}="${lines.join("\\n")}"`;
}

/** `# text`, with every control character (a line break included) turned into a space. */
export function envCommentLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  return "# " + text.replace(/[\u0000-\u001f\u007f]/g, " ");
}

/**
 * The two lines that hand a broker's public key to a guard: `# kid <RFC 7638 thumbprint>` and
 * `AGENTWRIT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\n…"`.
 * @param pem the Ed25519 public key as PEM SPKI text
 * @throws TypeError when `pem` is not an Ed25519 public key in PEM
 */
export function publicKeyEnvLines(pem: string): [kidComment: string, keyLine: string] {
  if (!pem.includes("-----BEGIN")) throw new TypeError("publicKeyEnvLines: expected PEM SPKI text");
  const x = publicKeyToX(pem, "publicKeyEnvLines");
  return [envCommentLine(`kid ${ed25519KidSync(x)}`), pemEnvLine("AGENTWRIT_PUBLIC_KEY", pem)];
}
