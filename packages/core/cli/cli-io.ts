/**
 * What every `agentwrit-guard` command shares: argument parsing whose errors never echo an
 * argument (a token given on the command line must not come back in an error), bounded reads
 * from a file or stdin, terminal-safe display of values taken from a token, and times in human form.
 */
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";

export const NAME = "agentwrit-guard";

/** A mistake in the command line: reported with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The usage text to print after the message. */
    readonly usage: string,
  ) {
    super(message);
  }
}

/** A failure the command reports on one line (bad input, unreadable file): exit code 1 unless given. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** The lines a command prints and the exit code it ends with. */
export interface Outcome {
  readonly stdout: string;
  readonly exitCode: 0 | 1 | 2;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** An option name safe to repeat in a message: short, no dots (every compact JWS has two). */
const SAFE_OPTION = /^--?[A-Za-z][A-Za-z0-9-]{0,31}$/;

/**
 * `node:util` `parseArgs`, strict, with `--help` and `--json` handled by the caller. Its errors
 * are rewritten so that they never carry an argument's text: `Unexpected argument 'eyJ…'`
 * would print a token given in the wrong place.
 */
export function parseCommandArgs<O extends Options>(argv: readonly string[], options: O, maxPositionals: number, usage: string) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(describeArgError(e), usage);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`too many arguments (at most ${String(maxPositionals)}; arguments are not shown)`, usage);
  }
  return parsed;
}

function describeArgError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err.message === "string" ? err.message : "";
  const option = /'(-[^' ]*)/.exec(message)?.[1];
  const named = option !== undefined && SAFE_OPTION.test(option) ? option : "(not shown)";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${named}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (message.includes("argument missing")) return `${named} needs a value`;
      // A value starting with "-" (a PEM: "-----BEGIN …") must be attached with "=".
      if (message.includes("ambiguous")) return `the value of ${named} starts with "-": write ${named}=<value>`;
      return `${named} does not take a value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return "unexpected argument (not shown)";
    default:
      return "the command line could not be read";
  }
}

/** An integer flag value, or `undefined` when the flag is absent. */
export function integerFlag(value: string | undefined, flag: string, unit: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) throw new CommandError(`${flag} expects an integer number of ${unit}`, 2);
  return n;
}

/** Largest token accepted on stdin or as an argument (the guard's own `maxTokenBytes` ceiling). */
export const MAX_TOKEN_BYTES = 1 << 20;
/** Largest key file read. */
export const MAX_KEY_BYTES = 64 * 1024;

/** Reads at most `max` bytes of stdin; more is an error, not a truncation. */
export async function readStdin(max: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new CommandError(`${what} on stdin is larger than ${String(max)} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads a file of at most `max` bytes; the message names the path, never the contents. */
export function readBoundedFile(path: string, max: number, what: string): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CommandError(`cannot read ${what} ${JSON.stringify(path)}${code === undefined ? "" : ` (${code})`}`);
  }
  if (data.length > max) throw new CommandError(`${what} ${JSON.stringify(path)} is larger than ${String(max)} bytes`);
  return data.toString("utf8");
}

/**
 * The token from the argument, or from stdin when the argument is `-` or absent. Surrounding
 * whitespace and a leading `Bearer ` (a pasted header value) are dropped.
 */
export async function readToken(arg: string | undefined, usage: string): Promise<string> {
  let text: string;
  if (arg === undefined || arg === "-") {
    if (arg === undefined && process.stdin.isTTY) throw new UsageError("no token given: pipe it on stdin (or pass - explicitly)", usage);
    text = await readStdin(MAX_TOKEN_BYTES, "the token");
  } else {
    if (Buffer.byteLength(arg) > MAX_TOKEN_BYTES) throw new CommandError(`the token argument is larger than ${String(MAX_TOKEN_BYTES)} bytes`);
    text = arg;
  }
  const token = text.trim().replace(/^bearer[ \t]+/i, "");
  if (token === "") throw new CommandError("the token is empty");
  remember(token);
  return token;
}

const secrets: string[] = [];

/** Keeps the token, and its signature segment, out of everything {@link redact} passes. */
function remember(token: string): void {
  secrets.push(token);
  const signature = token.slice(token.lastIndexOf(".") + 1);
  if (signature.length >= 16 && signature !== token) secrets.push(signature);
}

/**
 * The last line of defence: every byte the CLI writes passes through here, and any occurrence of
 * the token read (or of its signature) is replaced. Nothing is meant to reach it.
 */
export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("[token not shown]");
  return out;
}

/**
 * A value from a token, safe to print on a terminal: control characters, C1 controls, bidi
 * overrides and line separators are escaped, so a crafted claim cannot move the cursor, recolour
 * the terminal or reorder what is shown.
 */
export function show(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** JSON for scripts, with every non-ASCII character escaped (still valid JSON, safe on a terminal). */
export function jsonText(value: unknown): string {
  // `undefined` becomes null, so that every key is always there for scripts.
  return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v), 2).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) + "\n";
}

/** `2026-05-01T10:00:00Z` for whole seconds since the epoch (`undefined` when out of range). */
export function isoSeconds(sec: number): string | undefined {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(".000Z", "Z");
}

const UNITS: readonly (readonly [number, string])[] = [
  [86400, "d"],
  [3600, "h"],
  [60, "min"],
  [1, "s"],
];

/** `4 min 12 s`, `3 h 2 min`, `2 d`: the largest unit and the next one when it is not zero. */
export function duration(totalSec: number): string {
  const s = Math.abs(Math.round(totalSec));
  const i = UNITS.findIndex(([size]) => s >= size);
  if (i < 0) return "0 s";
  const [size, unit] = UNITS[i] ?? [1, "s"];
  const text = `${String(Math.floor(s / size))} ${unit}`;
  const next = UNITS[i + 1];
  if (next === undefined) return text;
  const n = Math.floor((s % size) / next[0]);
  return n === 0 ? text : `${text} ${String(n)} ${next[1]}`;
}

/** `in 4 min 12 s` or `3 min ago` (`now` for less than a second). */
export function relative(deltaSec: number): string {
  if (Math.abs(deltaSec) < 1) return "now";
  return deltaSec > 0 ? `in ${duration(deltaSec)}` : `${duration(deltaSec)} ago`;
}

/** Left-aligned two-column rows, indented. */
export function rows(entries: readonly (readonly [string, string])[], indent = "  "): string[] {
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`);
}
