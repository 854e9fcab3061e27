// Section 4: broker traffic of a hybrid guard, in a child process of its own (it replaces
// Date.now with a simulated clock and counts signature verifications). The dev broker runs in a
// process of its own on 127.0.0.1 (broker-proc.mjs: the real clock, its own verifications) and
// counts `POST /v1/token/validate` calls (`stats.validateCalls`).
import { createRequire, syncBuiltinESMExports } from "node:module";
import { createGuard } from "@agentwrit/guard";
import { agentHeaders, benchApp } from "./lib/agents.mjs";
import { ask, childMain, message, start } from "./lib/children.mjs";
import { AUDIENCE, ISSUER, makeKeys } from "./lib/tokens.mjs";

// Count signature verifications on either path of the core's #runtime: node:crypto's verify (on
// Node) and Web Crypto's. The built-in's export is replaced and the ES module bindings re-synced.
let webVerifies = 0;
const subtleVerify = globalThis.crypto.subtle.verify.bind(globalThis.crypto.subtle);
globalThis.crypto.subtle.verify = (...args) => {
  webVerifies++;
  return subtleVerify(...args);
};
const nodeCrypto = createRequire(import.meta.url)("node:crypto");
const nodeVerify = nodeCrypto.verify;
nodeCrypto.verify = (...args) => {
  webVerifies++;
  return nodeVerify(...args);
};
syncBuiltinESMExports();

const realNow = Date.now.bind(Date);

async function main(cfg) {
  const keys = await makeKeys();
  const brokerChild = start(new URL("./broker-proc.mjs", import.meta.url).pathname, { privateKeyPem: keys.privateKeyPem });
  const { url } = await message(brokerChild, "ready", 30_000);
  const broker = {
    url,
    resetStats: () => ask(brokerChild, "reset"),
    validateCalls: async () => (await ask(brokerChild, "stats")).stats.validateCalls,
  };
  try {
    // Every agent the broker issued, through @agentwrit/client, before the clock is replaced (the
    // broker checks nbf against the real time): 2 for the concurrent bursts, `agents` per run.
    const app = benchApp(url, await ask(brokerChild, "app"));
    const [burstHeaders, ...runHeaders] = await Promise.all([
      agentHeaders(app, 2, { task: "burst" }),
      ...[0, 5].map((s) => agentHeaders(app, cfg.agents, { task: `staleness${s}` })),
    ]);
    const guardFor = (maxStalenessSec) =>
      createGuard({ publicKey: keys.publicKeyPem, brokerUrl: broker.url, mode: "hybrid", issuer: ISSUER, audience: AUDIENCE, maxStalenessSec });

    // 100 concurrent requests with one token, on a fresh guard.
    const concurrent = {};
    for (const s of [0, 5]) {
      const guard = guardFor(s);
      const header = burstHeaders[s === 0 ? 0 : 1];
      await broker.resetStats();
      webVerifies = 0;
      await Promise.all(Array.from({ length: 100 }, () => guard.authenticate(header)));
      concurrent[`maxStalenessSec${s}`] = { brokerCalls: await broker.validateCalls(), signatureVerifications: webVerifies };
    }

    // 10,000 requests from `agents` agents, one every `intervalMs` of simulated time, each
    // awaited before the next (uniform arrivals, no overlap, so no coalescing helps).
    const perTenThousand = {};
    let virtual = realNow();
    Date.now = () => virtual;
    try {
      for (const [k, s] of [0, 5].entries()) {
        const guard = guardFor(s);
        const headers = runHeaders[k];
        await broker.resetStats();
        const started = virtual;
        for (let i = 0; i < cfg.requests; i++) {
          await guard.authenticate(headers[i % cfg.agents]);
          virtual += cfg.intervalMs;
        }
        const brokerCalls = await broker.validateCalls();
        perTenThousand[`maxStalenessSec${s}`] = {
          requests: cfg.requests,
          agents: cfg.agents,
          simulatedWindowSec: (virtual - started) / 1000,
          brokerCalls,
          brokerCallsPer10k: (brokerCalls * 10_000) / cfg.requests,
        };
      }
    } finally {
      Date.now = realNow;
    }
    return { concurrent100: concurrent, sequentialSimulated: perTenThousand };
  } finally {
    if (brokerChild.exitCode === null) brokerChild.kill("SIGKILL");
  }
}

childMain(main);
