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
