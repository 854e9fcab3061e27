// CPU time, which a shared machine distorts far less than throughput: the process's (every
// thread) from process.cpuUsage(), and the calling thread's alone.
import { readFileSync } from "node:fs";

/** CPU time of this process, all threads, in µs. */
export function processCpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * CPU time of the calling thread in µs: process.threadCpuUsage() where Node has it (≥ 23.9),
 * else /proc/thread-self/schedstat (Linux, ns); `undefined` elsewhere.
 */
export function threadCpuUs() {
  if (typeof process.threadCpuUsage === "function") {
    const u = process.threadCpuUsage();
    return u.user + u.system;
  }
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1000;
  } catch {
    return undefined;
  }
}

/** Starts a CPU window; `end(ops)` returns µs per op for the process and for this thread. */
export function cpuWindow() {
  const p0 = processCpuUs();
  const t0 = threadCpuUs();
  return {
    end(ops) {
      const t1 = threadCpuUs();
      return {
        processUsPerOp: (processCpuUs() - p0) / ops,
        mainThreadUsPerOp: t0 === undefined || t1 === undefined ? undefined : (t1 - t0) / ops,
      };
    },
  };
}
