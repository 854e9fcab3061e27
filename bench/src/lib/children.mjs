// Every child process the bench starts goes through here, so that all of them are killed at the
// end, on failure, on a signal, or when the watchdog fires.
import { fork } from "node:child_process";

const live = new Set();

export function killAll() {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  live.clear();
}

process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** Forks `script` with `config` as its only argument (JSON) and registers it. */
export function start(script, config, { execArgv = [], env } = {}) {
  const child = fork(script, [JSON.stringify(config)], {
    execArgv,
    env: env === undefined ? process.env : { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Waits for the first IPC message of the given type; rejects on exit, error or timeout. */
export function message(child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    const onMessage = (m) => {
      if (m !== null && typeof m === "object" && m.type === type) {
        done();
        resolve(m);
      } else if (m !== null && typeof m === "object" && m.type === "error") {
        done();
        reject(new Error(`child failed: ${String(m.message)}`));
      }
    };
    const onExit = (code, signal) => {
      done();
      reject(new Error(`child exited (code ${String(code)}, signal ${String(signal)}) before sending "${type}"`));
    };
    const onError = (e) => {
      done();
      reject(e);
    };
    const timer = setTimeout(() => {
      done();
      child.kill("SIGKILL");
      reject(new Error(`child sent no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** Runs a one-shot child script to completion and returns its `result` message. */
export async function runChild(script, config, { timeoutMs, execArgv = [] }) {
  const child = start(script, config, { execArgv });
  try {
    const m = await message(child, "result", timeoutMs);
    await new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", resolve);
    });
    return m.result;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** In a child: reads the config, runs `main`, reports the result (or the error) and exits. */
export function childMain(main) {
  const config = JSON.parse(process.argv[2] ?? "{}");
  main(config).then(
    (result) => {
      process.send({ type: "result", result }, () => process.exit(0));
    },
    (e) => {
      process.send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () => process.exit(1));
    },
  );
}

/** Sends `{type}` to a child and waits for its answer of the same type (one question at a time per child). */
export async function ask(child, type, timeoutMs = 10_000) {
  const answer = message(child, type, timeoutMs);
  child.send({ type });
  return answer;
}
