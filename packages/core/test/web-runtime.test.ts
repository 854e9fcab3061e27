/**
 * The core's verification suites again, with `#runtime` resolved to the Web Crypto module that
 * Bun, Deno, workerd and browsers take (Node's own runs take runtime-node.ts): every refusal case
 * of local.test.ts and go-reading.test.ts, and the agreement with jose, hold on both paths.
 */
import { expect, it, vi } from "vitest";
import * as web from "../src/runtime-web.js";
import { countSignatureChecks } from "./support/signatures.js";
import { bearer, makeKey, mint } from "./support/tokens.js";

vi.mock("#runtime", () => import("../src/runtime-web.js"));

it("#runtime is the Web Crypto module in this file, and the guard verifies through crypto.subtle", async () => {
  const runtime = await import("#runtime");
  expect(runtime.verifyJwsSignature).toBe(web.verifyJwsSignature);
  const { createGuard } = await import("../src/index.js");
  const key = makeKey();
  const subtle = vi.spyOn(crypto.subtle, "verify");
  const counter = countSignatureChecks();
  try {
    await createGuard({ publicKey: key.jwk }).authenticate(bearer(await mint(key)));
    expect(counter.count).toBe(1);
    expect(subtle).toHaveBeenCalledTimes(1);
  } finally {
    counter.restore();
    subtle.mockRestore();
  }
});

await import("./local.test.js");
await import("./go-reading.test.js");
await import("./jose-agreement.test.js");
