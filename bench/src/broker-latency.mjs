// Section 4, the default configuration's cost: a hybrid guard at maxStalenessSec 0 (every
// request asks the broker) with many distinct agents, against the dev broker in another process
// on the same machine. Each request of the guard is compared with a direct
// `POST /v1/token/validate` of the same token through the same HTTP client (fetch), alternating
// blocks of both, the same number in flight: the guard's own share is the difference.
import { createGuard } from "@agentwrit/guard";
import { agentHeaders, benchApp } from "./lib/agents.mjs";
import { ask, childMain, message, start } from "./lib/children.mjs";
import { AUDIENCE, ISSUER, makeKeys } from "./lib/tokens.mjs";

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** `count` requests, `n` in flight, cycling over `headers` from `offset`; every latency in ms. */
async function timed(n, count, offset, headers, fn) {
  const latencies = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await fn(headers[(offset + i) % headers.length]);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  return latencies;
}

async function main(cfg) {
  const keys = await makeKeys();
  const brokerChild = start(new URL("./broker-proc.mjs", import.meta.url).pathname, { privateKeyPem: keys.privateKeyPem });
  try {
    const { url } = await message(brokerChild, "ready", 30_000);
    const calls = async () => (await ask(brokerChild, "stats")).stats.validateCalls;
    // Distinct agents, each registered with the broker through @agentwrit/client.
    const headers = await agentHeaders(benchApp(url, await ask(brokerChild, "app")), cfg.agents, { task: "latency" });
    const guard = createGuard({ publicKey: keys.publicKeyPem, brokerUrl: url, mode: "hybrid", maxStalenessSec: 0, issuer: ISSUER, audience: AUDIENCE });
    const validateUrl = url + "/v1/token/validate";
    const direct = async (header) => {
      const res = await globalThis.fetch(validateUrl, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ token: header.slice(7) }) });
      const body = await res.json();
      if (res.status !== 200 || body.valid !== true) throw new Error(`direct validate: HTTP ${res.status}, valid ${String(body.valid)}`);
    };
    const guarded = async (header) => {
      const id = await guard.authenticate(header);
      if (id.source !== "broker") throw new Error(`hybrid at maxStalenessSec 0 answered from ${id.source}`);
    };

    // First pass over every agent: the guard verifies each signature locally, then asks the broker.
    const c0 = await calls();
    const firstPass = await timed(1, headers.length, 0, headers, guarded);
    const firstPassCalls = (await calls()) - c0;
    await timed(1, Math.min(headers.length, 200), 0, headers, direct); // warm the direct client alike

    const out = { agents: cfg.agents, firstPass: { requests: headers.length, brokerCalls: firstPassCalls, p50Ms: 0, p99Ms: 0 } };
    const sorted = [...firstPass].sort((a, b) => a - b);
    out.firstPass.p50Ms = quantile(sorted, 0.5);
    out.firstPass.p99Ms = quantile(sorted, 0.99);
    for (const n of cfg.inFlight) {
      const lat = { guarded: [], direct: [] };
      let guardedCalls = 0;
      let offset = 0;
      for (let b = 0; b < cfg.blocks; b++) {
        const order = b % 2 === 0 ? ["guarded", "direct"] : ["direct", "guarded"];
        for (const which of order) {
          const before = await calls();
          lat[which].push(...(await timed(n, cfg.blockRequests, offset, headers, which === "guarded" ? guarded : direct)));
          if (which === "guarded") guardedCalls += (await calls()) - before;
        }
        offset += cfg.blockRequests;
      }
      const stat = (xs) => {
        const s = [...xs].sort((a, b) => a - b);
        return { requests: s.length, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), meanMs: s.reduce((a, b) => a + b, 0) / s.length };
      };
      const g = stat(lat.guarded);
      const d = stat(lat.direct);
      out[`inFlight${n}`] = { guarded: g, direct: d, brokerCallsPerRequest: guardedCalls / g.requests, overheadP50: g.p50Ms / d.p50Ms - 1, overheadP99: g.p99Ms / d.p99Ms - 1 };
    }
    return out;
  } finally {
    if (brokerChild.exitCode === null) brokerChild.kill("SIGKILL");
  }
}

childMain(main);
