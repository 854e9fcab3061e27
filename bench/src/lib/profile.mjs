// Summarises a V8 .cpuprofile: self time per function, busy share of the thread.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

/** The largest .cpuprofile in `dir` (the main thread's, when only one thread ran JavaScript). */
export function newestProfile(dir) {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
}

/** `window` ({startUs, endUs} on the profile's monotonic clock) keeps only the samples inside it. */
export function summarize(file, window = undefined, top = 15) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (window !== undefined && (t < window.startUs || t > window.endUs)) continue;
    const node = byId.get(profile.samples[i]);
    total += dt;
    const f = node.callFrame;
    const where = f.url === "" ? "" : `${f.url.replace(/^file:\/\/.*\/(node_modules\/\.pnpm\/[^/]+\/node_modules\/|packages\/)/, "")}:${f.lineNumber + 1}`;
    const key = `${f.functionName === "" ? "(anonymous)" : f.functionName} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const idle = self.get("(idle)") ?? 0;
  const rows = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ function: fn, selfMs: us / 1000, share: us / total }));
  const windowed = window !== undefined && window.startUs >= profile.startTime && window.endUs <= profile.endTime;
  return { file: basename(file), windowed, totalMs: total / 1000, busyShare: 1 - idle / total, top: rows };
}

/** Frames that belong to whoever called them: V8 builtins and natives, Node's internals, and the guard's own dependencies. */
const TRANSPARENT = /^(?:$|node:|internal\/)|\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?(?:lru-cache|jose)\//;
/** The guard's own code: the packages' built `dist`, however it was installed. */
const GUARD = /\/packages\/(?:core|express|fastify|hono)\/dist\/|\/node_modules\/@agentwrit\/guard[^/]*\//;
/** Whose code a profile attributes: the guard's, or an anchor's (`hono/jwt`: Hono's jwt middleware and its JWT utilities). */
export const OWNERS = {
  guard: GUARD,
  "hono/jwt": /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?hono\/dist\/(?:middleware\/jwt|utils\/jwt|utils\/encode|utils\/buffer)\//,
};

/**
 * Where a server's CPU went, from a profile of one measured window (an object as the inspector's
 * `Profiler.stop` returns it). A sample is the guard's (or, given `own`, that code's: an anchor's) when, walking from the running function up
 * its stack past builtins, Node's internals and the guard's dependencies (lru-cache, jose), the
 * first frame met is the guard's: the guard's own work and what it calls, never what runs after
 * it hands the request on (the route's handler runs under the guard's frame once the guard calls
 * `next()`/`done()`, so a frame of the framework or the app met first stops the walk).
 */
export function attribute(profile, top = 8, own = GUARD) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerOf = new Map();
  const owner = (id) => {
    let o = ownerOf.get(id);
    if (o !== undefined) return o;
    const n = byId.get(id);
    const f = n.callFrame;
    if (f.functionName === "(idle)" || f.functionName === "(garbage collector)" || f.functionName === "(program)") o = f.functionName;
    else if (own.test(f.url)) o = "guard";
    else if (TRANSPARENT.test(f.url.replace(/^file:\/\//, ""))) {
      const p = parent.get(id);
      o = p === undefined || byId.get(p).callFrame.functionName === "(root)" ? "other" : owner(p);
    } else o = "other";
    ownerOf.set(id, o);
    return o;
  };
  const totals = { guard: 0, "(idle)": 0, "(garbage collector)": 0, "(program)": 0, other: 0 };
  const guardSelf = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const id = profile.samples[i];
    const o = owner(id);
    totals[o] += dt;
    if (o === "guard") {
      const f = byId.get(id).callFrame;
      const where = f.url === "" ? "" : `${f.url.replace(/^file:\/\/.*\/(node_modules\/\.pnpm\/[^/]+\/node_modules\/|packages\/)/, "")}:${f.lineNumber + 1}`;
      const key = `${f.functionName === "" ? "(anonymous)" : f.functionName} ${where}`.trim();
      guardSelf.set(key, (guardSelf.get(key) ?? 0) + dt);
    }
  }
  const busy = total - totals["(idle)"];
  return {
    sampledMs: total / 1000,
    busyMs: busy / 1000,
    guardMs: totals.guard / 1000,
    gcMs: totals["(garbage collector)"] / 1000,
    guardShareOfBusy: busy > 0 ? totals.guard / busy : 0,
    top: [...guardSelf.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({ function: fn, ms: us / 1000, shareOfGuard: totals.guard > 0 ? us / totals.guard : 0 })),
  };
}
