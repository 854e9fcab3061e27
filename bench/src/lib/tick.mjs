// What one `process.nextTick(noop)` call costs in this process now (queueing only, ns): the
// median of 7 batches of 1,000 after one warm batch. ~60 ns normally; ~300+ ns once V8 lost its
// inline caches for it (bench/README.md, "Hot, and a Node 20 defect").
import { setImmediate } from "node:timers";

export async function tickCost() {
  const noop = () => {};
  const batches = [];
  for (let b = 0; b < 8; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) process.nextTick(noop);
    if (b > 0) batches.push(Number(process.hrtime.bigint() - t) / 1000);
    await new Promise((resolve) => setImmediate(resolve));
  }
  batches.sort((a, b) => a - b);
  return batches[batches.length >> 1];
}
