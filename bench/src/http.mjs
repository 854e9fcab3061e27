// Sections 2 and 3: HTTP overhead on loopback with autocannon. Each server runs in its own
// process (server.mjs); the load generator and the dev broker (hybrid mode) run here.
import autocannon from "autocannon";
import { ask, message, start } from "./lib/children.mjs";

const SERVER = new URL("./server.mjs", import.meta.url).pathname;
const PATH = "/orders/42";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The servers, by id "framework/variant". */
export const VARIANTS = {
  express: ["bare", "floor", "local", "handler", "hybrid", "a0"],
  fastify: ["bare", "bare-plugin", "floor", "floor-onready", "local", "hybrid", "fjwt-cache", "fjwt-nocache"],
  hono: ["bare", "floor", "local", "handler", "hybrid", "honojwt"],
};
/**
 * Variants measured hot in two processes each. Two identical Express processes differ by up to
 * up to ~12 µs of CPU per request (of ~120 µs), more than the gap being measured; the figures reported
 * are the mean of both processes' medians, and each process's is kept (`processes`).
 */
export const REPLICATED = { express: ["bare", "floor", "local", "handler"] };
const replicaId = (framework, variant) => `${framework}/${variant}#2`;
/** Which servers are measured with distinct tokens too (ours in local mode, and the anchors). */
const COLD = { express: ["local", "a0"], fastify: ["local", "fjwt-cache", "fjwt-nocache"], hono: ["local", "honojwt"] };
/**
 * The token caches of the servers measured cold: ours (the default cache.max), fast-jwt's
 * (@fastify/jwt's default); express-oauth2-jwt-bearer and hono/jwt keep none. A cold pool larger
 * than all of them, cycled in the same order on every server, makes every request a miss for all.
 */
export const TOKEN_CACHES = { ours: 10_000, "fast-jwt": 1000 };

function runCannon(opts) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    instance.on("error", reject);
  });
}

/**
 * One autocannon run against a server. `tokens` is `{ hot }` (one header value) or
 * `{ pool, cursor }` (distinct tokens, rotated per request with a per-server cursor). The
 * server's own CPU time is read over its control channel just before and just after the run.
 */
async function load({ port, child }, tokens, { connections, durationSec, amount }) {
  const base = { url: `http://127.0.0.1:${port}`, connections, pipelining: 1, ...(amount === undefined ? { duration: durationSec } : { amount }) };
  let opts;
  if (tokens.hot !== undefined) {
    opts = { ...base, requests: [{ method: "GET", path: PATH, headers: { authorization: tokens.hot } }] };
  } else {
    const { pool } = tokens;
    opts = {
      ...base,
      requests: [
        {
          method: "GET",
          path: PATH,
          setupRequest: (req) => {
            const auth = pool[tokens.cursor];
            tokens.cursor = tokens.cursor + 1 === pool.length ? 0 : tokens.cursor + 1;
            return { ...req, headers: { ...req.headers, authorization: auth } };
          },
        },
      ],
    };
  }
  const before = await ask(child, "cpu");
  const r = await runCannon(opts);
  const after = await ask(child, "cpu");
  const cpuBefore = before.us;
  const cpuAfter = after.us;
  const mainUs = before.mainUs === undefined || after.mainUs === undefined ? undefined : after.mainUs - before.mainUs;
  const ok = r["2xx"];
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0 || ok === 0) {
    throw new Error(`load run failed: 2xx ${ok}, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}`);
  }
  return { rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, requests: ok, durationSec: r.duration, serverCpuUsPerRequest: (cpuAfter - cpuBefore) / ok, serverMainThreadUsPerRequest: mainUs === undefined ? undefined : mainUs / ok };
}

/** Starts every server in parallel; returns id → { port, child }. */
export async function startServers(keys, brokerUrl) {
  const entries = Object.entries(VARIANTS).flatMap(([framework, variants]) => [
    ...variants.map((variant) => ({ framework, variant, id: `${framework}/${variant}` })),
    ...(REPLICATED[framework] ?? []).map((variant) => ({ framework, variant, id: replicaId(framework, variant) })),
  ]);
  const started = await Promise.all(
    entries.map(async ({ framework, variant, id }) => {
      const child = start(SERVER, { framework, variant, publicKeyPem: keys.publicKeyPem, brokerUrl, maxStalenessSec: 5 });
      const { port } = await message(child, "ready", 30_000);
      return [id, { port, child }];
    }),
  );
  return Object.fromEntries(started);
}

export function stopServers(servers) {
  for (const { child } of Object.values(servers)) if (child.exitCode === null) child.kill("SIGKILL");
}

/**
 * Runs one group of servers with the same load, `rounds` times, alternating the order each
 * round so that drift on a shared machine hits every variant alike.
 */
async function group(servers, ids, makeTokens, cfg, broker, log) {
  const cursors = Object.fromEntries(ids.map((id) => [id, makeTokens(id)]));
  // Every autocannon run lasts at least ~1 s (it ends on a sampling tick), so --quick skips warm-up.
  if (cfg.warmupRequests > 0) {
    for (const id of ids) await load(servers[id], cursors[id], { connections: cfg.connections, amount: cfg.warmupRequests });
  }
  const runs = Object.fromEntries(ids.map((id) => [id, []]));
  const brokerCalls = Object.fromEntries(ids.map((id) => [id, 0]));
  for (let round = 0; round < cfg.rounds; round++) {
    const order = round % 2 === 0 ? ids : [...ids].reverse();
    for (const id of order) {
      const before = broker.stats.validateCalls;
      const r = await load(servers[id], cursors[id], { connections: cfg.connections, durationSec: cfg.durationSec });
      brokerCalls[id] += broker.stats.validateCalls - before;
      runs[id].push(r);
      log(`  ${id.padEnd(22)} round ${round + 1}: ${Math.round(r.rps)} req/s, server CPU ${r.serverCpuUsPerRequest.toFixed(1)} µs/request`);
    }
  }
  return Object.fromEntries(
    ids.map((id) => [
      id,
      {
        rps: median(runs[id].map((r) => r.rps)),
        serverCpuUsPerRequest: median(runs[id].map((r) => r.serverCpuUsPerRequest)),
        serverCpuRuns: runs[id].map((r) => Math.round(r.serverCpuUsPerRequest * 100) / 100),
        serverMainThreadUsPerRequest: runs[id].some((r) => r.serverMainThreadUsPerRequest === undefined) ? undefined : median(runs[id].map((r) => r.serverMainThreadUsPerRequest)),
        p50Ms: median(runs[id].map((r) => r.p50)),
        p99Ms: median(runs[id].map((r) => r.p99)),
        requests: runs[id].reduce((s, r) => s + r.requests, 0),
        runs: runs[id].map((r) => Math.round(r.rps)),
        brokerCalls: brokerCalls[id],
      },
    ]),
  );
}

/**
 * One more run (hot, or cold carrying on with a server's token cursor) against a server, under a CPU profile of exactly that window (taken in
 * the server, 100 µs samples): the CPU of the guard's own code (and what it calls) per request,
 * against the main thread's busy time per request. The profiler's sampling costs the server a
 * little, so the run's throughput is not reported; the shares are what it is for.
 */
async function profiledRun(server, tokens, cfg) {
  await ask(server.child, "profile-start");
  const r = await load(server, tokens, { connections: cfg.connections, durationSec: cfg.durationSec });
  const p = await ask(server.child, "profile-stop", 60_000);
  if (p.error !== undefined) throw new Error(`profile: ${p.error}`);
  const a = p.attribution;
  const perRequest = (ms) => (ms * 1000) / r.requests;
  return {
    requests: r.requests,
    guardUsPerRequest: perRequest(a.guardMs),
    busyUsPerRequest: perRequest(a.busyMs),
    gcUsPerRequest: perRequest(a.gcMs),
    guardShareOfBusy: a.guardShareOfBusy,
    top: a.top.map((t) => ({ function: t.function, usPerRequest: perRequest(t.ms) })),
  };
}

/** One variant measured in two processes: the mean of both medians, and each process's figures. */
function bothProcesses(a, b) {
  const mean = (f) => (f(a) === undefined || f(b) === undefined ? undefined : (f(a) + f(b)) / 2);
  const summary = (x) => ({ rps: x.rps, serverCpuUsPerRequest: x.serverCpuUsPerRequest, serverMainThreadUsPerRequest: x.serverMainThreadUsPerRequest, serverCpuRuns: x.serverCpuRuns, nextTickNs: x.nextTickNs });
  return {
    ...a,
    rps: mean((x) => x.rps),
    serverCpuUsPerRequest: mean((x) => x.serverCpuUsPerRequest),
    serverMainThreadUsPerRequest: mean((x) => x.serverMainThreadUsPerRequest),
    p50Ms: mean((x) => x.p50Ms),
    p99Ms: mean((x) => x.p99Ms),
    requests: a.requests + b.requests,
    brokerCalls: a.brokerCalls + b.brokerCalls,
    processes: [summary(a), summary(b)],
  };
}

/** 100 concurrent requests with one fresh token against each hybrid server: broker calls. */
async function burst(servers, token, broker, framework) {
  const { port } = servers[`${framework}/hybrid`];
  const before = broker.stats.validateCalls;
  const statuses = await Promise.all(
    Array.from({ length: 100 }, () =>
      globalThis.fetch(`http://127.0.0.1:${port}${PATH}`, { headers: { authorization: token } }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    ),
  );
  if (!statuses.every((s) => s === 200)) throw new Error(`burst: statuses ${[...new Set(statuses)].join(",")}`);
  return broker.stats.validateCalls - before;
}

export async function runHttp({ keys, broker, hotToken, burstTokens, coldPool, cfg, log }) {
  const servers = await startServers(keys, broker.url);
  try {
    const bursts = {};
    let b = 0;
    for (const framework of Object.keys(VARIANTS)) bursts[framework] = await burst(servers, burstTokens[b++], broker, framework);
    const hot = {};
    const hotProfile = {};
    const cold = {};
    for (const [framework, variants] of Object.entries(VARIANTS)) {
      log(`HTTP ${framework}, one hot token`);
      const replicated = REPLICATED[framework] ?? [];
      const ids = [...variants.map((v) => `${framework}/${v}`), ...replicated.map((v) => replicaId(framework, v))];
      const measured = await group(servers, ids, () => ({ hot: hotToken }), cfg, broker, log);
      // What a process.nextTick costs in each server after its runs (a V8 state the guard does not choose).
      for (const id of ids) measured[id].nextTickNs = (await ask(servers[id].child, "tick")).ns;
      log(`  process.nextTick, ns per call: ${ids.map((id) => `${id.slice(framework.length + 1)} ${Math.round(measured[id].nextTickNs)}`).join(", ")}`);
      for (const v of variants) {
        const a = measured[`${framework}/${v}`];
        const b = replicated.includes(v) ? measured[replicaId(framework, v)] : undefined;
        hot[`${framework}/${v}`] = b === undefined ? a : bothProcesses(a, b);
      }
      hotProfile[framework] = await profiledRun(servers[`${framework}/local`], { hot: hotToken }, cfg);
      const p = hotProfile[framework];
      log(`  ${`${framework}/local`.padEnd(22)} profiled: the guard's own code ${p.guardUsPerRequest.toFixed(2)} µs/request of ${p.busyUsPerRequest.toFixed(1)} µs busy`);
    }
    const largestCache = Math.max(...Object.values(TOKEN_CACHES));
    if (coldPool.length <= largestCache) throw new Error(`cold pool of ${coldPool.length} tokens does not defeat a cache of ${largestCache}`);
    const coldProfile = {};
    const coldCheck = { poolTokens: coldPool.length, tokenCaches: TOKEN_CACHES, ours: {} };
    for (const [framework, variants] of Object.entries(COLD)) {
      log(`HTTP ${framework}, distinct tokens (pool of ${coldPool.length}, per-server cursor)`);
      const local = servers[`${framework}/local`];
      const before = (await ask(local.child, "stats")).stats;
      const cursors = {};
      const makeCursor = (id) => (cursors[id] = { pool: coldPool, cursor: 0 });
      Object.assign(cold, await group(servers, variants.map((v) => `${framework}/${v}`), makeCursor, cfg, broker, log));
      // Every token of the pool verified once more by our server: its cache filled up to cache.max, never beyond.
      const after = (await ask(local.child, "stats")).stats;
      if (after.cacheSize > TOKEN_CACHES.ours) throw new Error(`${framework}: cache grew to ${after.cacheSize}`);
      coldCheck.ours[framework] = { cacheSizeBefore: before.cacheSize, cacheSizeAfter: after.cacheSize, refusalCacheSize: after.refusalCacheSize };
      // Where a cold request's main-thread time goes, ours and the anchor's, where the cold target is
      // closest: each server carries on from its own cursor, so every token is still a miss.
      if (framework === "hono") {
        coldProfile.hono = {};
        for (const v of variants) {
          const p = (coldProfile.hono[v] = await profiledRun(servers[`hono/${v}`], cursors[`hono/${v}`], cfg));
          log(`  ${`hono/${v}`.padEnd(22)} profiled cold: the token check's own code ${p.guardUsPerRequest.toFixed(1)} µs/request of ${p.busyUsPerRequest.toFixed(1)} µs busy`);
        }
      }
    }
    return { hot, hotProfile, cold, coldProfile, burst100: bursts, coldCheck };
  } finally {
    stopServers(servers);
  }
}
