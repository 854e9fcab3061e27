#!/usr/bin/env node
/**
 * `agentwrit-dev-broker`: runs the development broker in the foreground and prints what a guard
 * needs (URL, public key, kid) plus the admin secret and any `--app` credentials. Never prints
 * tokens. Development and test use only.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseAppSpec } from "./cli-args.js";
import { startDevBroker, type DevBrokerOptions } from "./index.js";

const USAGE = `Usage: agentwrit-dev-broker [options]

  --port <n>              TCP port (default 8080; 0 = ephemeral)
  --host <addr>           loopback bind address (default 127.0.0.1)
  --admin-secret <s>      admin secret (default: random, printed)
  --issuer <s>            iss claim, checked on verify when set (default "")
  --audience <s>          aud claim, checked on Bearer routes when set (default none)
  --trust-domain <s>      SPIFFE trust domain (default agentwrit.local)
  --signing-key <file>    PEM PKCS#8 Ed25519 private key (default: generated)
  --app <name:scope,...>  register an app and print its client_id/client_secret (repeatable)
  -h, --help              show this help

A development and test tool, not a production broker: in-memory state, loopback only.`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
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
  });
  if (values.help === true) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port)) throw new Error(`--port expects an integer, got "${values.port ?? ""}"`);
  const apps = (values.app ?? []).map(parseAppSpec);

  const opts: { -readonly [K in keyof DevBrokerOptions]: DevBrokerOptions[K] } = { port };
  if (values.host !== undefined) opts.host = values.host;
  if (values["admin-secret"] !== undefined) opts.adminSecret = values["admin-secret"];
  if (values.issuer !== undefined) opts.issuer = values.issuer;
  if (values.audience !== undefined) opts.audience = values.audience;
  if (values["trust-domain"] !== undefined) opts.trustDomain = values["trust-domain"];
  if (values["signing-key"] !== undefined) opts.signingKey = readFileSync(values["signing-key"], "utf8");

  const broker = await startDevBroker(opts);
  const out: string[] = [
    `AgentWrit dev broker (development and test only) listening on ${broker.url}`,
    `AGENTWRIT_BROKER_URL=${broker.url}`,
    `AGENTWRIT_KID=${broker.kid}`,
    `AGENTWRIT_PUBLIC_KEY_JWK=${JSON.stringify(broker.publicKeyJwk)}`,
    `AGENTWRIT_ISSUER=${broker.issuer}`,
    `AGENTWRIT_AUDIENCE=${broker.audience ?? ""}`,
    values["admin-secret"] === undefined ? `AGENTWRIT_ADMIN_SECRET=${broker.adminSecret}` : "AGENTWRIT_ADMIN_SECRET=(as given)",
    "Public key (PEM):",
    broker.publicKeyPem.trimEnd(),
  ];
  for (const spec of apps) {
    const app = await broker.registerApp(spec);
    out.push(
      `App ${spec.name}: app_id=${app.appId} scopes=${app.scopes.join(",")}`,
      `  AGENTWRIT_CLIENT_ID=${app.clientId}`,
      `  AGENTWRIT_CLIENT_SECRET=${app.clientSecret}`,
    );
  }
  process.stdout.write(out.join("\n") + "\n");

  const stop = (signal: string): void => {
    process.stdout.write(`received ${signal}, shutting down\n`);
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
  process.stderr.write(`agentwrit-dev-broker: ${e instanceof Error ? e.message : String(e)}\n\n${USAGE}\n`);
  process.exit(2);
});
