#!/usr/bin/env node
/**
 * `agentwrit-dev-broker`: runs the development broker in the foreground and prints what a guard
 * needs (URL, public key, kid) plus the admin secret and any `--app` credentials, as an env file:
 * every stdout line is `KEY="value"` or a `#` comment, so `agentwrit-dev-broker > broker.env`
 * then `set -a; . ./broker.env` (or dotenv, or `node --env-file`) loads it. Never prints tokens.
 * Development and test use only.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseAppSpec } from "./cli-args.js";
import { envCommentLine as commentLine, envLine, publicKeyEnvLines } from "@agentwrit/guard";
import { startDevBroker, type DevBroker, type DevBrokerOptions } from "./index.js";
import { resolveOptions } from "./options.js";

const NAME = "agentwrit-dev-broker";

const USAGE = `Usage: ${NAME} [options]

  --port <n>              TCP port (default 8080; 0 = ephemeral)
  --host <addr>           loopback bind address (default 127.0.0.1)
  --admin-secret <s>      admin secret (default: random, printed)
  --issuer <s>            iss claim, checked on verify when set (default "")
  --audience <s>          aud claim, checked on Bearer routes when set (default none)
  --trust-domain <s>      SPIFFE trust domain (default agentwrit.local)
  --signing-key <file>    PEM PKCS#8 Ed25519 private key (default: generated)
  --app <name:scope,...>  register an app and print its client_id/client_secret (repeatable)
  -h, --help              show this help

Prints an env file on stdout (KEY="value" lines and # comments):
  ${NAME} > broker.env &   then   set -a; . ./broker.env; set +a

A development and test tool, not a production broker: in-memory state, loopback only.`;

/** A mistake in the command line: reported with the usage text, exit code 2. */
class UsageError extends Error {}

interface Cli {
  readonly options: DevBrokerOptions;
  readonly apps: readonly { name: string; scopes: string[] }[];
  readonly adminSecretGiven: boolean;
}

function parseCli(argv: string[]): Cli | "help" {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "admin-secret": { type: "string" },
        issuer: { type: "string" },
        audience: { type: "string" },
        "trust-domain": { type: "string" },
        "signing-key": { type: "string" },
        app: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help === true) return "help";
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (values.port?.trim() === "" || !Number.isInteger(port)) throw new UsageError(`--port expects an integer, got "${values.port ?? ""}"`);
  const options: { -readonly [K in keyof DevBrokerOptions]: DevBrokerOptions[K] } = { port };
  if (values.host !== undefined) options.host = values.host;
  if (values["admin-secret"] !== undefined) options.adminSecret = values["admin-secret"];
  if (values.issuer !== undefined) options.issuer = values.issuer;
  if (values.audience !== undefined) options.audience = values.audience;
  if (values["trust-domain"] !== undefined) options.trustDomain = values["trust-domain"];
  if (values["signing-key"] !== undefined) {
    try {
      options.signingKey = readFileSync(values["signing-key"], "utf8");
    } catch (e) {
      throw new UsageError(`--signing-key: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const check = (what: string, f: () => unknown): void => {
    try {
      f();
    } catch (e) {
      throw new UsageError(`${what}${e instanceof Error ? e.message : String(e)}`);
    }
  };
  check("", () => resolveOptions(options));
  // Values printed as env lines must be writable as such.
  check("--issuer: ", () => envLine("AGENTWRIT_ISSUER", options.issuer ?? ""));
  check("--audience: ", () => envLine("AGENTWRIT_AUDIENCE", options.audience ?? ""));
  let apps: { name: string; scopes: string[] }[] = [];
  check("", () => (apps = (values.app ?? []).map(parseAppSpec)));
  return { options, apps, adminSecretGiven: values["admin-secret"] !== undefined };
}

/** The env file describing a running broker (and its apps). */
async function envFile(broker: DevBroker, cli: Cli): Promise<string[]> {
  const out: string[] = [
    commentLine(`AgentWrit dev broker (development and test only) listening on ${broker.url}`),
    envLine("AGENTWRIT_BROKER_URL", broker.url),
    // The same two lines as `agentwrit-guard pubkey` prints (one formatter, in @agentwrit/guard).
    ...publicKeyEnvLines(broker.publicKeyPem),
    envLine("AGENTWRIT_ISSUER", broker.issuer),
    envLine("AGENTWRIT_AUDIENCE", broker.audience ?? ""),
    cli.adminSecretGiven ? commentLine("AGENTWRIT_ADMIN_SECRET: as given with --admin-secret") : envLine("AGENTWRIT_ADMIN_SECRET", broker.adminSecret),
  ];
  for (const spec of cli.apps) {
    let app;
    try {
      app = await broker.registerApp(spec);
    } catch (e) {
      throw new UsageError(`--app ${spec.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    out.push(
      commentLine(`app ${spec.name}: app_id=${app.appId} scopes=${app.scopes.join(",")}${cli.apps.length > 1 ? " (with several --app, the last one's credentials win when sourced)" : ""}`),
      envLine("AGENTWRIT_CLIENT_ID", app.clientId),
      envLine("AGENTWRIT_CLIENT_SECRET", app.clientSecret),
    );
  }
  return out;
}

/** One line for an error from `listen` (EADDRINUSE named plainly). */
function listenError(e: NodeJS.ErrnoException, options: DevBrokerOptions): string {
  const address = `${options.host ?? "127.0.0.1"}:${String(options.port ?? 0)}`;
  if (e.code === "EADDRINUSE") return `${address} is already in use (EADDRINUSE): stop what is listening there or pass another --port`;
  return `cannot listen on ${address}: ${e.message}`;
}

function fail(message: string, code: 1 | 2): never {
  process.stderr.write(`${NAME}: ${message}\n${code === 2 ? `\n${USAGE}\n` : ""}`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const cli = parseCli(argv);
  if (cli === "help") {
    process.stdout.write(USAGE + "\n");
    return;
  }
  let broker: DevBroker;
  try {
    broker = await startDevBroker(cli.options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).syscall === "listen") fail(listenError(e as NodeJS.ErrnoException, cli.options), 1);
    // A key file that is not an Ed25519 PKCS#8 PEM is a mistake in the command line.
    if (cli.options.signingKey !== undefined) throw new UsageError(`--signing-key: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  let lines: string[];
  try {
    lines = await envFile(broker, cli);
  } catch (e) {
    await broker.close();
    throw e;
  }
  process.stdout.write(lines.join("\n") + "\n");

  // Status messages go to stderr, so stdout stays a valid env file to its last line.
  const stop = (signal: string): void => {
    process.stderr.write(`${NAME}: received ${signal}, shutting down\n`);
    broker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => {
    stop("SIGINT");
  });
  process.once("SIGTERM", () => {
    stop("SIGTERM");
  });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) fail(e.message, 2);
  fail(e instanceof Error ? e.message : String(e), 1);
});
