/**
 * Guard options for `check` and `probe`, from flags or (with neither --broker nor --key) from the
 * same AGENTWRIT_* environment variables the adapters read. Log lines go to stderr, so stdout
 * stays the decision alone.
 */
import { Console } from "node:console";
import { statSync } from "node:fs";
import { CommandError, integerFlag, MAX_KEY_BYTES, readBoundedFile } from "./cli-io.js";
import { consoleLogger, optionsFromEnv, type GuardDescription, type GuardLogger, type GuardOptions } from "./index.js";

/** The flags shared by `check` and `probe`. */
export const GUARD_FLAG_HELP = `  --broker <url>         broker base URL (no /v1): broker validation (hybrid with --key)
  --key <file | pem>     the broker's public key: a file, or --key="<PEM>" (literal \\n allowed),
                         a JWK as JSON or the raw key in base64; repeat for rotation
  --audience <aud>       accepted audience (the broker's AA_AUDIENCE); repeatable
  --issuer <iss>         required issuer (the broker's AA_ISSUER; "" is its default)
  --trust-domain <td>    accepted SPIFFE trust domain of agents
  --mode <m>             local | broker | hybrid (default: hybrid with both, else whichever)
  --allow-non-agent      accept admin and app tokens (allowNonAgentSubjects)
  --timeout-ms <n>       broker timeout (default 2000)
  --log <level>          guard log lines on stderr: debug | info | warn | error`;

/** How the guard is configured without flags. */
export const GUARD_ENV_HELP = `With neither --broker nor --key, the AGENTWRIT_* environment variables configure the guard, as
they do for the adapters (AGENTWRIT_BROKER_URL, AGENTWRIT_PUBLIC_KEY, AGENTWRIT_AUDIENCE,
AGENTWRIT_ISSUER, AGENTWRIT_LOG).`;

export const GUARD_FLAGS = {
  broker: { type: "string" },
  key: { type: "string", multiple: true },
  audience: { type: "string", multiple: true },
  issuer: { type: "string" },
  "trust-domain": { type: "string" },
  mode: { type: "string" },
  "allow-non-agent": { type: "boolean" },
  "timeout-ms": { type: "string" },
  log: { type: "string" },
} as const;

export interface GuardFlagValues {
  readonly broker?: string | undefined;
  readonly key?: string[] | undefined;
  readonly audience?: string[] | undefined;
  readonly issuer?: string | undefined;
  readonly "trust-domain"?: string | undefined;
  readonly mode?: string | undefined;
  readonly "allow-non-agent"?: boolean | undefined;
  readonly "timeout-ms"?: string | undefined;
  readonly log?: string | undefined;
}

/** Key text as given, or read from the file it names. */
function keyInput(value: string): string {
  const text = value.trim();
  if (text.includes("-----BEGIN") || text.startsWith("{")) return value;
  let isFile = false;
  try {
    isFile = statSync(value).isFile();
  } catch {
    // not a file: maybe raw base64 key text
  }
  if (isFile) return readBoundedFile(value, MAX_KEY_BYTES, "--key file");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return text;
  const shown = value.length <= 200 && !/[\r\n]/.test(value) ? ` ${JSON.stringify(value)}` : "";
  throw new CommandError(`--key: no such file${shown}, and not PEM, JWK or base64 key text`, 2);
}

/** A console logger writing to stderr, or `undefined` for no level. */
function stderrLogger(level: string | undefined, flag: string): GuardLogger | undefined {
  if (level === undefined || level.trim() === "") return undefined;
  const logger = consoleLogger(level, new Console({ stdout: process.stderr, stderr: process.stderr }));
  if (logger === undefined) throw new CommandError(`${flag} must be debug, info, warn or error`, 2);
  return logger;
}

/** Guard options from the flags, or from the environment when neither --broker nor --key is given. */
export function guardOptions(values: GuardFlagValues, env: NodeJS.ProcessEnv): GuardOptions {
  const options: { -readonly [K in keyof GuardOptions]: GuardOptions[K] } = {};
  const keys = values.key ?? [];
  if (values.broker === undefined && keys.length === 0) {
    let fromEnv: GuardOptions;
    try {
      fromEnv = optionsFromEnv(env);
    } catch {
      throw new CommandError("no guard configuration: pass --broker and/or --key (or set AGENTWRIT_BROKER_URL and/or AGENTWRIT_PUBLIC_KEY)", 2);
    }
    // Its console logger would write to stdout; AGENTWRIT_LOG is honoured below, on stderr.
    const { logger: _, ...rest } = fromEnv;
    Object.assign(options, rest);
  }
  if (values.broker !== undefined) options.brokerUrl = values.broker;
  if (keys.length > 0) options.publicKey = keys.length === 1 ? keyInput(keys[0] ?? "") : keys.map(keyInput);
  if (values.audience !== undefined) options.audience = values.audience.length === 1 ? values.audience[0] : values.audience;
  if (values.issuer !== undefined) options.issuer = values.issuer;
  if (values["trust-domain"] !== undefined) options.trustDomain = values["trust-domain"];
  if (values.mode !== undefined) options.mode = values.mode as GuardOptions["mode"];
  if (values["allow-non-agent"] === true) options.allowNonAgentSubjects = true;
  const ms = integerFlag(values["timeout-ms"], "--timeout-ms", "milliseconds");
  if (ms !== undefined) options.brokerTimeoutMs = ms;
  const logger = values.log !== undefined ? stderrLogger(values.log, "--log") : stderrLogger(env.AGENTWRIT_LOG, "AGENTWRIT_LOG");
  if (logger !== undefined) options.logger = logger;
  return options;
}

/** One line saying which configuration decided (keys are public: their kids are shown). */
export function describeGuard(d: GuardDescription): string {
  const parts = [`mode ${d.mode}`];
  if (d.brokerUrl !== undefined) parts.push(`broker ${d.brokerUrl}`);
  if (d.kids.length > 0) parts.push(`kid ${d.kids.join(", ")}`);
  parts.push(d.audience === undefined ? "audience not checked" : `audience ${d.audience.join(", ")}`);
  parts.push(d.issuer === undefined ? "issuer not checked" : `issuer ${JSON.stringify(d.issuer)}`);
  if (d.trustDomain !== undefined) parts.push(`trust domain ${d.trustDomain}`);
  return `Guard: ${parts.join("; ")}`;
}
