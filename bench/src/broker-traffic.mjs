// Section 4: broker traffic of a hybrid guard, in a child process of its own (it replaces
// Date.now with a simulated clock). The dev broker runs here on 127.0.0.1 and counts
// `POST /v1/token/validate` calls (`stats.validateCalls`).
import { createGuard } from "@agentwrit/guard";
import { startDevBroker } from "@agentwrit/dev-broker";
import { childMain } from "./lib/children.mjs";
import { AUDIENCE, ISSUER, agentClaims, makeKeys, mint } from "./lib/tokens.mjs";

// Count signature verifications (jose verifies through the global Web Crypto object).
let webVerifies = 0;
const subtleVerify = globalThis.crypto.subtle.verify.bind(globalThis.crypto.subtle);
globalThis.crypto.subtle.verify = (...args) => {
  webVerifies++;
  return subtleVerify(...args);
};

const realNow = Date.now.bind(Date);

async function main(cfg) {
  const keys = await makeKeys();
  const broker = await startDevBroker({ signingKey: keys.privateKeyPem, issuer: ISSUER });
  try {
    const guardFor = (maxStalenessSec) =>
      createGuard({ publicKey: keys.publicKeyPem, brokerUrl: broker.url, mode: "hybrid", issuer: ISSUER, audience: AUDIENCE, maxStalenessSec });

    // 100 concurrent requests with one token, on a fresh guard.
    const concurrent = {};
    for (const s of [0, 5]) {
      const guard = guardFor(s);
      const header = "Bearer " + mint(keys, agentClaims(1000 + s)).token;
      broker.resetStats();
      webVerifies = 0;
      await Promise.all(Array.from({ length: 100 }, () => guard.authenticate(header)));
      concurrent[`maxStalenessSec${s}`] = { brokerCalls: broker.stats.validateCalls, signatureVerifications: webVerifies };
    }

    // 10,000 requests from `agents` agents, one every `intervalMs` of simulated time, each
    // awaited before the next (uniform arrivals, no overlap, so no coalescing helps).
    const perTenThousand = {};
    // Minted before the clock is replaced: the broker checks nbf against the real time.
    const agentHeaders = [0, 5].map((s) =>
      Array.from({ length: cfg.agents }, (_, i) => "Bearer " + mint(keys, agentClaims(2000 + 100 * s + i)).token),
    );
    let virtual = realNow();
    Date.now = () => virtual;
    try {
      for (const [k, s] of [0, 5].entries()) {
        const guard = guardFor(s);
        const headers = agentHeaders[k];
        broker.resetStats();
        const started = virtual;
        for (let i = 0; i < cfg.requests; i++) {
          await guard.authenticate(headers[i % cfg.agents]);
          virtual += cfg.intervalMs;
        }
        perTenThousand[`maxStalenessSec${s}`] = {
          requests: cfg.requests,
          agents: cfg.agents,
          simulatedWindowSec: (virtual - started) / 1000,
          brokerCalls: broker.stats.validateCalls,
          brokerCallsPer10k: (broker.stats.validateCalls * 10_000) / cfg.requests,
        };
      }
    } finally {
      Date.now = realNow;
    }
    return { concurrent100: concurrent, sequentialSimulated: perTenThousand };
  } finally {
    await broker.close();
  }
}

childMain(main);
