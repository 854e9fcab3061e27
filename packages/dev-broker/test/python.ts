/** Locating and running the repository's Python venv with the official AgentWrit SDK. */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { DevBroker } from "../src/index.js";
import type { Json } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");

/** The venv's python (created by scripts/setup-python.sh). */
export const venvPython = join(repoRoot, ".python-venv", process.platform === "win32" ? "Scripts/python.exe" : "bin/python");
export const sdkFlowScript = join(here, "fixtures", "sdk_flow.py");

export const pythonAvailable = existsSync(venvPython);
const inCi = process.env.CI === "true";
/** Skip locally when the venv is missing; in CI the tests run (and fail if it is missing). */
export const skipPython = !pythonAvailable && !inCi;

export function announceSkip(suite: string): void {
  if (skipPython) console.log(`SKIP ${suite}: ${venvPython} not found; run scripts/setup-python.sh (required in CI)`);
}

export function assertPython(): void {
  if (!pythonAvailable) throw new Error(`${venvPython} not found: run scripts/setup-python.sh before the tests (CI=true)`);
}

/** Runs sdk_flow.py against the broker with the app's credentials; returns its JSON output. */
export function runSdkFlow(broker: DevBroker, clientId: string, clientSecret: string): Promise<Json> {
  return new Promise((resolvePromise, reject) => {
    execFile(venvPython, [sdkFlowScript, broker.url, clientId, clientSecret], { timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`sdk_flow.py failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolvePromise(JSON.parse(stdout));
      } catch {
        reject(new Error(`sdk_flow.py printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}
