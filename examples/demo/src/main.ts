/** `pnpm demo`: runs the demo and exits 0 only when every step came out as expected. */
import { runDemo } from "./run.js";

try {
  const { ok } = await runDemo();
  process.exitCode = ok ? 0 : 1;
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
