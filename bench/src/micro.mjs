// Section 1: verification micro-benchmarks, in a child process of their own.
// - raw node:crypto Ed25519 on one worker thread per core: the physical limit;
// - guard.authenticate on distinct tokens (cold: each token seen once by a fresh guard), 64 in
//   flight and sequentially; references: jose's jwtVerify alone, Web Crypto verify alone, and
//   node:crypto verify alone (callback form on libuv's pool, and the synchronous form), with the
//   CPU time each costs per token (the whole process, and the main thread alone);
// - cached verification (the same token again; verifyCached on fresh header strings);
//   scopeIsSubset; requirement compile/evaluate.
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { importJWK, jwtVerify } from "jose";
import { childMain } from "./lib/children.mjs";
import { cpuWindow } from "./lib/cpu.mjs";
import { AUDIENCE, ISSUER, agentClaims, makeKeys, mint } from "./lib/tokens.mjs";

// AGENTWRIT_BENCH_CORE=/path/to/dist/index.js measures another build of the core (a candidate
// change in a scratch copy) with everything else unchanged.
const core = process.env.AGENTWRIT_BENCH_CORE;
const { compileRequirement, createGuard, evaluateRequirement, scopeIsSubset } = await import(
  core === undefined || core === "" ? "@agentwrit/guard" : pathToFileURL(core).href
);
// AGENTWRIT_BENCH_CORE_B=/path/to/dist/index.js also measures that build side by side (A/B in
// every repetition), which is what survives the noise of a shared machine.
const coreB = process.env.AGENTWRIT_BENCH_CORE_B;
const createGuardB = coreB === undefined || coreB === "" ? undefined : (await import(pathToFileURL(coreB).href)).createGuard;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Runs `fn(k)` for k in [0, count) with `n` calls in flight; returns calls per second and the CPU
 * time per call (process, main thread).
 */
async function measured(n, count, fn) {
  let next = 0;
  const cpu = cpuWindow();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < count) await fn(next++);
    }),
  );
  const rate = count / ((performance.now() - t0) / 1000);
  return { rate, ...cpu.end(count) };
}

/** `measured`, calls per second only. */
async function inFlight(n, count, fn) {
  return (await measured(n, count, fn)).rate;
}

/** Synchronous ops per second of `fn` over roughly `ms` milliseconds. */
function syncOps(ms, fn) {
  let ops = 0;
  const t0 = performance.now();
  let elapsed;
  do {
    for (let k = 0; k < 1000; k++) fn();
    ops += 1000;
    elapsed = performance.now() - t0;
  } while (elapsed < ms);
  return ops / (elapsed / 1000);
}

function guardFor(keys, create = createGuard) {
  return create({ publicKey: keys.publicKeyPem, mode: "local", issuer: ISSUER, audience: AUDIENCE });
}

async function main(cfg) {
  const keys = await makeKeys();
  const n = cfg.tokens;
  const warmN = cfg.warmTokens;
  const minted = Array.from({ length: n + warmN }, (_, i) => mint(keys, agentClaims(i)));
  const headers = minted.map((m) => "Bearer " + m.token);
  const tokens = minted.map((m) => m.token);
  const joseKey = await importJWK({ kty: "OKP", crv: "Ed25519", x: keys.x }, "EdDSA");
  const webKey = await globalThis.crypto.subtle.importKey("raw", Buffer.from(keys.x, "base64url"), { name: "Ed25519" }, false, ["verify"]);
  const datas = minted.map((m) => Buffer.from(m.signingInput));
  const sigs = minted.map((m) => m.sig);
  const keyObject = createPublicKey({ key: keys.spkiDer, format: "der", type: "spki" });
  const W = warmN; // measured tokens are [W, W + n)

  const cold = async (guard, k, offset) => {
    await guard.authenticate(headers[offset + k]);
  };
  const joseOne = async (k, offset) => {
    await jwtVerify(tokens[offset + k], joseKey, { algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE });
  };
  const webOne = async (k, offset) => {
    if (!(await globalThis.crypto.subtle.verify("Ed25519", webKey, sigs[offset + k], datas[offset + k]))) throw new Error("webcrypto verify failed");
  };
  // node:crypto's callback form runs on libuv's thread pool, like Web Crypto; the synchronous
  // form runs on the calling thread (one core at most, whatever is in flight).
  const nodeCbOne = (k, offset) =>
    new Promise((resolve, reject) => {
      nodeVerify(null, datas[offset + k], keyObject, sigs[offset + k], (err, ok) => (err !== null || !ok ? reject(err ?? new Error("node:crypto verify failed")) : resolve()));
    });
  const nodeSyncOne = async (k, offset) => {
    if (!nodeVerify(null, datas[offset + k], keyObject, sigs[offset + k])) throw new Error("node:crypto verify failed");
  };

  // Warm-up (JIT, thread pool) on tokens that are never measured.
  await inFlight(64, W, (k) => cold(guardFor(keys), k, 0).catch((e) => Promise.reject(e)));
  {
    const g = guardFor(keys);
    await inFlight(64, W, (k) => cold(g, k, 0));
    await inFlight(64, W, (k) => joseOne(k, 0));
    await inFlight(64, W, (k) => webOne(k, 0));
    await inFlight(64, W, (k) => nodeCbOne(k, 0));
    await inFlight(1, Math.min(W, 500), (k) => nodeSyncOne(k, 0));
  }

  if (cfg.profile) {
    // Profile mode: only the cold 64-in-flight guard path, several times.
    // The window (monotonic clock, µs, the CPU profile's time base) lets the summary keep only
    // the samples of the measured phase, not token minting.
    const rates = [];
    const startUs = Number(process.hrtime.bigint() / 1000n);
    for (let r = 0; r < cfg.reps; r++) {
      const g = guardFor(keys);
      rates.push(await inFlight(64, n, (k) => cold(g, k, W)));
    }
    const endUs = Number(process.hrtime.bigint() / 1000n);
    return { guardCold64: median(rates), window: { startUs, endUs } };
  }

  const cores = availableParallelism();
  // Web Crypto verification runs on libuv's thread pool (UV_THREADPOOL_SIZE, default 4 threads).
  const poolThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const makeWorkers = (count) =>
    Array.from({ length: count }, (_, w) => {
      const mine = [];
      for (let k = w; k < n; k += count) mine.push(W + k);
      return new Worker(new URL("./raw-worker.mjs", import.meta.url), {
        workerData: { spkiDer: keys.spkiDer, data: mine.map((k) => datas[k]), sigs: mine.map((k) => sigs[k]) },
      });
    });
  const perCore = makeWorkers(cores);
  const perPoolThread = poolThreads === cores ? perCore : makeWorkers(poolThreads);
  const workers = perPoolThread === perCore ? perCore : [...perCore, ...perPoolThread];
  const rawRun = async (durationMs, set = perCore) => {
    const results = await Promise.all(
      set.map(
        (w) =>
          new Promise((resolve, reject) => {
            const onError = (e) => {
              w.off("message", onMessage);
              reject(e);
            };
            const onMessage = (m) => {
              w.off("error", onError);
              resolve(m);
            };
            w.once("message", onMessage);
            w.once("error", onError);
            w.postMessage({ durationMs });
          }),
      ),
    );
    return results.reduce((sum, r) => sum + r.ops / (r.elapsedMs / 1000), 0);
  };
  try {
    await rawRun(Math.min(300, cfg.rawMs));
    await rawRun(Math.min(300, cfg.rawMs), perPoolThread);

    const reps = { rawPool: [], raw: [], guardSeq: [], ratioGuard: [], ratioJose: [], ratioWeb: [], ratioNodeCb: [] };
    const phases = {};
    const seqN = Math.max(500, Math.floor(n / 4));
    const push = (name, m) => (phases[name] ??= []).push(m);
    for (let r = 0; r < cfg.reps; r++) {
      const raw = await rawRun(cfg.rawMs);
      // The in-process phases, in reverse order every other repetition (drift hits each alike).
      const steps = [
        ["guard64", () => { const g = guardFor(keys); return measured(64, n, (k) => cold(g, k, W)); }],
        ["jose64", () => measured(64, n, (k) => joseOne(k, W))],
        ["web64", () => measured(64, n, (k) => webOne(k, W))],
        ["nodeCb64", () => measured(64, n, (k) => nodeCbOne(k, W))],
        ["guardSeq", () => { const g = guardFor(keys); return measured(1, seqN, (k) => cold(g, k, W)); }],
        ["webSeq", () => measured(1, seqN, (k) => webOne(k, W))],
        ["nodeCbSeq", () => measured(1, seqN, (k) => nodeCbOne(k, W))],
        ["nodeSyncSeq", () => measured(1, seqN, (k) => nodeSyncOne(k, W))],
      ];
      const m = {};
      for (const [name, run] of r % 2 === 0 ? steps : [...steps].reverse()) m[name] = await run();
      if (createGuardB !== undefined) {
        const gb = guardFor(keys, createGuardB);
        const b64 = await inFlight(64, n, (k) => cold(gb, k, W));
        const gbs = guardFor(keys, createGuardB);
        const bSeq = await inFlight(1, seqN, (k) => cold(gbs, k, W));
        const ga = guardFor(keys);
        const a64 = await inFlight(64, n, (k) => cold(ga, k, W));
        (reps.candidate ??= []).push({ b64, bSeq, ratioB64ToA64: b64 / ((m.guard64.rate + a64) / 2), ratioBSeqToASeq: bSeq / m.guardSeq.rate, ratioB64ToRaw: b64 / raw });
      }
      const raw2 = await rawRun(cfg.rawMs);
      reps.rawPool.push(await rawRun(cfg.rawMs, perPoolThread));
      const rawMid = (raw + raw2) / 2;
      reps.raw.push(rawMid);
      for (const [name, v] of Object.entries(m)) push(name, v);
      reps.ratioGuard.push(m.guard64.rate / rawMid);
      reps.ratioJose.push(m.jose64.rate / rawMid);
      reps.ratioWeb.push(m.web64.rate / rawMid);
      reps.ratioNodeCb.push(m.nodeCb64.rate / rawMid);
    }

    // Cached: the same token again and again (one fresh guard, primed once).
    const gc = guardFor(keys);
    await gc.authenticate(headers[W]);
    const cachedN = cfg.cachedOps;
    const cachedSeq = await inFlight(1, cachedN, () => gc.authenticate(headers[W]));
    const cached64 = await inFlight(64, cachedN, () => gc.authenticate(headers[W]));
    // A cache hit as a server sees it: a header string fresh from the HTTP parser every time
    // (copies made by Buffer, so no string shares a cached hash), through the synchronous path.
    const copies = Array.from({ length: 4096 }, () => Buffer.from(headers[W], "latin1").toString("latin1"));
    let hits = 0;
    const verifyCachedOps = syncOps(cfg.syncMs, () => {
      if (gc.verifyCached(copies[hits++ & 4095]) === undefined) throw new Error("verifyCached missed a cached token");
    });

    // Scope algebra and requirements (synchronous).
    const held = ["read:data:customer-42", "write:data:order-*", "read:reports:*", "admin:audit:log-7", "read:data:invoice-9"];
    const requested = ["read:data:customer-42", "write:data:order-*", "read:reports:*"];
    let sink = 0;
    const subset = syncOps(cfg.syncMs, () => {
      if (scopeIsSubset(requested, held)) sink++;
    });
    const template = "write:data:order-{id}";
    const compile = syncOps(cfg.syncMs, () => {
      if (compileRequirement(template).params.length === 1) sink++;
    });
    const compiled = compileRequirement(template);
    const heldConcrete = ["read:data:customer-42", "write:data:order-42", "read:reports:*"];
    const params = { id: "42" };
    const evaluate = syncOps(cfg.syncMs, () => {
      if (evaluateRequirement(compiled, heldConcrete, params).satisfied) sink++;
    });
    const family = compileRequirement("write:data:order-*");
    const evaluateFamily = syncOps(cfg.syncMs, () => {
      if (evaluateRequirement(family, held).satisfied) sink++;
    });
    if (sink === 0) throw new Error("scope checks never passed");

    const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs });
    /** Rates with their spread, and the median CPU time per call (µs): process and main thread. */
    const phase = (name) => {
      const ms = phases[name];
      const main = ms.map((x) => x.mainThreadUsPerOp).filter((x) => x !== undefined);
      return { ...spread(ms.map((x) => x.rate)), cpuUsPerOp: median(ms.map((x) => x.processUsPerOp)), mainThreadUsPerOp: main.length === 0 ? undefined : median(main) };
    };
    return {
      cores,
      tokens: n,
      reps: cfg.reps,
      rawDurationMs: cfg.rawMs,
      poolThreads,
      rawAllCores: spread(reps.raw),
      rawPoolThreads: spread(reps.rawPool),
      guardCold64: phase("guard64"),
      joseJwtVerify64: phase("jose64"),
      webCryptoVerify64: phase("web64"),
      nodeCryptoCallback64: phase("nodeCb64"),
      guardColdSequential: phase("guardSeq"),
      webCryptoSequential: phase("webSeq"),
      nodeCryptoCallbackSequential: phase("nodeCbSeq"),
      nodeCryptoSyncSequential: phase("nodeSyncSeq"),
      ratioGuardCold64ToRaw: spread(reps.ratioGuard),
      ratioJose64ToRaw: spread(reps.ratioJose),
      ratioWebCrypto64ToRaw: spread(reps.ratioWeb),
      ratioNodeCryptoCallback64ToRaw: spread(reps.ratioNodeCb),
      guardCachedSequential: cachedSeq,
      guardCached64: cached64,
      verifyCachedFreshHeader: verifyCachedOps,
      scopeIsSubset: subset,
      compileRequirementTemplate: compile,
      evaluateRequirementTemplate: evaluate,
      evaluateRequirementFamily: evaluateFamily,
      tokenBytes: tokens[W].length,
      ...(reps.candidate === undefined ? {} : { candidate: { module: coreB, runs: reps.candidate, ratioB64ToA64: median(reps.candidate.map((c) => c.ratioB64ToA64)), ratioBSeqToASeq: median(reps.candidate.map((c) => c.ratioBSeqToASeq)) } }),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

childMain(main);
