// One per core: raw node:crypto Ed25519 verification of pre-decoded signing inputs, for a fixed
// time on each "run" message. The sum over workers is the machine's physical verification limit.
import { createPublicKey, verify } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

const key = createPublicKey({ key: Buffer.from(workerData.spkiDer), format: "der", type: "spki" });
const data = workerData.data.map((d) => Buffer.from(d));
const sigs = workerData.sigs.map((s) => Buffer.from(s));

function loop(durationMs) {
  let ops = 0;
  let i = 0;
  const t0 = performance.now();
  let elapsed;
  for (;;) {
    for (let k = 0; k < 128; k++) {
      if (!verify(null, data[i], key, sigs[i])) throw new Error("raw verification failed");
      if (++i === data.length) i = 0;
    }
    ops += 128;
    elapsed = performance.now() - t0;
    if (elapsed >= durationMs) break;
  }
  return { ops, elapsedMs: elapsed };
}

parentPort.on("message", (m) => {
  parentPort.postMessage(loop(m.durationMs));
});
