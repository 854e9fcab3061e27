#!/usr/bin/env node
/**
 * `agentwrit-guard`: the command-line tool of @agentwrit/guard, for operators. Node only; the
 * library never imports it (it is built next to the library's modules in dist/ and reaches them
 * by relative path, and the package's `exports` do not name it).
 */
import { readFileSync } from "node:fs";
import { check, CHECK_USAGE } from "./cli-check.js";
import { inspect, INSPECT_USAGE } from "./cli-inspect.js";
import { CommandError, NAME, redact, UsageError, type Outcome } from "./cli-io.js";
import { probe, PROBE_USAGE } from "./cli-probe.js";
import { pubkey, PUBKEY_USAGE } from "./cli-pubkey.js";

const USAGE = `Usage: ${NAME} <command> [arguments] [options]

Commands:
  pubkey <signing.key | public.pem | ->   print AGENTWRIT_PUBLIC_KEY="…" and its kid, for a guard's env
                                          (a private key in, only the public key out)
  inspect [token | -]                     decode and explain a token, UNVERIFIED
  check [token | -] --broker … --key …    run a real guard: exit 0 allow, 1 deny, 2 error
  probe [--broker <url>]                  broker health and latency: exit 0 ok, 1 down

Tokens: pipe them on stdin (no argument, or -). A token given as an argument is visible to other
users in \`ps\` and stays in shell history. No command ever prints a token.
  printf %s "$TOKEN" | ${NAME} inspect

  ${NAME} <command> --help   a command's options (inspect, check and probe take --json)
  ${NAME} --version

Exit status 2: a usage mistake (unknown command or option, missing value).`;

type Command = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<Outcome | "help">;

const COMMANDS: Readonly<Record<string, readonly [Command, string]>> = {
  pubkey: [pubkey, PUBKEY_USAGE],
  inspect: [inspect, INSPECT_USAGE],
  check: [check, CHECK_USAGE],
  probe: [probe, PROBE_USAGE],
};

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(redact(text));
}

/** Runs one command line; returns the exit code. Every write goes through `redact`. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "-h" || name === "--help" || name === "help") {
    write(process.stdout, USAGE + "\n");
    return 0;
  }
  if (name === "-v" || name === "--version") {
    write(process.stdout, version() + "\n");
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (name === undefined || command === undefined || !Object.hasOwn(COMMANDS, name)) {
    const what = name === undefined ? "no command given" : /^[a-z-]{1,24}$/.test(name) ? `unknown command ${name}` : "unknown command";
    write(process.stderr, `${NAME}: ${what}\n\n${USAGE}\n`);
    return 2;
  }
  const [run, usage] = command;
  try {
    const outcome = await run(rest, env);
    if (outcome === "help") {
      write(process.stdout, usage + "\n");
      return 0;
    }
    write(process.stdout, outcome.stdout);
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof UsageError) {
      write(process.stderr, `${NAME} ${name}: ${e.message}\n\n${e.usage}\n`);
      return 2;
    }
    if (e instanceof CommandError) {
      write(process.stderr, `${NAME} ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    // A bug: name it without a stack (which could quote input), and fail as an error.
    const what = e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : typeof e;
    write(process.stderr, `${NAME} ${name}: unexpected error (${what})\n`);
    return 2;
  }
}

// A reader that stops early (`| head`) closes the pipe: end quietly rather than with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    process.exit(e.code === "EPIPE" ? (typeof process.exitCode === "number" ? process.exitCode : 0) : 2);
  });
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 2;
  },
);
