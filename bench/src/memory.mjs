// Section 5: memory of a local guard with the default cache (cache.max 10,000) after a flood of
// distinct tokens, in a child process started with --expose-gc. Tokens are generated on the fly
// (the bench holds none), interleaved: valid ones fill positive entries, bad-signature ones and
// cheap malformed ones fill negative entries. Then the worst case: entries keyed by tokens near
// maxTokenBytes, to turn "bounded" into a number.
import { randomBytes } from "node:crypto";
import { createGuard } from "@agentwrit/guard";
import { childMain } from "./lib/children.mjs";
import { AUDIENCE, ISSUER, agentClaims, makeKeys, mint } from "./lib/tokens.mjs";

const gc = globalThis.gc;
const MB = 1024 * 1024;

function snapshot(guard) {
  gc();
  gc();
  const m = process.memoryUsage();
  const s = guard.stats();
  return { rssMB: m.rss / MB, heapUsedMB: m.heapUsed / MB, cacheSize: s.cacheSize, refusalCacheSize: s.refusalCacheSize };
}

async function pool(n, count, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function main(cfg) {
  if (typeof gc !== "function") throw new Error("run with --expose-gc");
  const keys = await makeKeys();
  const newGuard = () => createGuard({ publicKey: keys.publicKeyPem, mode: "local", issuer: ISSUER, audience: AUDIENCE });
  const guard = newGuard();
  const cacheMax = 10_000; // the default, asserted below
  await guard.authenticate("Bearer " + mint(keys, agentClaims(0)).token);
  guard.clearCache();
  const baseline = snapshot(guard);

  const validEvery = Math.floor(cfg.total / cfg.valid);
  const badEvery = Math.floor(cfg.total / cfg.badSignature);
  const counts = { valid: 0, badSignature: 0, malformed: 0 };
  const outcomes = { accepted: 0, invalid_signature: 0, malformed_token: 0 };
  const checkpoints = [];
  let maxCache = 0;
  let maxRefusals = 0;
  const refusalMax = Math.max(64, Math.ceil(cacheMax / 4)); // the refusal cache bound documented by core
  const step = Math.floor(cfg.total / 10);
  const t0 = performance.now();
  await pool(64, cfg.total, async (i) => {
    let header;
    if (i % validEvery === 0) {
      counts.valid++;
      header = "Bearer " + mint(keys, agentClaims(i)).token;
    } else if (i % badEvery === 1) {
      counts.badSignature++;
      const t = mint(keys, agentClaims(i)).token;
      header = "Bearer " + t.slice(0, t.lastIndexOf(".") + 1) + randomBytes(64).toString("base64url");
    } else {
      counts.malformed++;
      header = `Bearer ${i.toString(36)}.e30.AA`;
    }
    try {
      await guard.authenticate(header);
      outcomes.accepted++;
    } catch (e) {
      const code = typeof e?.code === "string" ? e.code : "thrown";
      outcomes[code] = (outcomes[code] ?? 0) + 1;
    }
    const { cacheSize: size, refusalCacheSize } = guard.stats();
    if (size > maxCache) maxCache = size;
    if (refusalCacheSize > maxRefusals) maxRefusals = refusalCacheSize;
    if ((i + 1) % step === 0) checkpoints.push({ processed: i + 1, ...snapshot(guard) });
  });
  const floodSec = (performance.now() - t0) / 1000;
  const afterFlood = snapshot(guard);
  guard.clearCache();
  const afterClear = snapshot(guard);
  const garbageRefused = outcomes.malformed_token + (outcomes.unsupported_alg ?? 0);
  if (outcomes.accepted !== counts.valid || outcomes.invalid_signature !== counts.badSignature || garbageRefused !== counts.malformed) {
    throw new Error(`unexpected outcomes ${JSON.stringify(outcomes)} for ${JSON.stringify(counts)}`);
  }

  // Per-entry cost: typical valid tokens, then the worst case: tokens close to maxTokenBytes (8192).
  const bigScope = Array.from({ length: cfg.bigScopes }, (_, k) => `read:data:item-${String(k).padStart(6, "0")}`);
  const worst = {};
  // Worst cases: ordinary and near-maxTokenBytes verified tokens (verified cache), and
  // near-maxTokenBytes tokens with a bad signature (refusal cache). Unparseable garbage is not cached.
  for (const kind of ["positiveTypical", "positiveMax", "negativeMax"]) {
    const g = newGuard();
    const before = snapshot(g);
    let tokenBytes = 0;
    await pool(64, cfg.worstEntries, async (i) => {
      let token;
      if (kind === "positiveTypical") token = mint(keys, agentClaims(i)).token;
      else if (kind === "positiveMax") token = mint(keys, agentClaims(i, { scope: bigScope })).token;
      else {
        const t = mint(keys, agentClaims(i, { scope: bigScope })).token;
        // Same length, canonical, but not the signature of this payload.
        token = t.slice(0, -2) + (t.at(-2) === "A" ? "B" : "A") + t.at(-1);
      }
      tokenBytes = Math.max(tokenBytes, token.length);
      await g.authenticate("Bearer " + token).then(
        () => {
          if (kind === "negativeMax") throw new Error("garbage accepted");
        },
        (e) => {
          if (kind !== "negativeMax") throw e;
        },
      );
    });
    const full = snapshot(g);
    g.clearCache();
    const cleared = snapshot(g);
    const entries = kind === "negativeMax" ? full.refusalCacheSize : full.cacheSize;
    const bound = kind === "negativeMax" ? refusalMax : cacheMax;
    const perEntryKB = ((full.heapUsedMB - cleared.heapUsedMB) * 1024) / entries;
    worst[kind] = {
      tokenBytes,
      entries,
      heapUsedFullMB: full.heapUsedMB,
      heapUsedClearedMB: cleared.heapUsedMB,
      rssFullMB: full.rssMB,
      rssBeforeMB: before.rssMB,
      perEntryKB,
      bound,
      boundAtCacheMaxMB: (perEntryKB * bound) / 1024,
    };
  }

  if (maxCache > cacheMax) throw new Error(`cache grew to ${maxCache} > ${cacheMax}`);
  if (maxRefusals > refusalMax) throw new Error(`refusal cache grew to ${maxRefusals} > ${refusalMax}`);
  const typicalPerEntryKB = ((afterFlood.heapUsedMB - afterClear.heapUsedMB) * 1024) / afterFlood.cacheSize;
  return {
    cacheMax,
    tokens: cfg.total,
    counts,
    outcomes,
    floodSec,
    maxCacheSize: maxCache,
    refusalMax,
    maxRefusalCacheSize: maxRefusals,
    baseline,
    checkpoints,
    afterFlood,
    afterClear,
    typicalPerEntryKB,
    worstCase: worst,
  };
}

childMain(main);
