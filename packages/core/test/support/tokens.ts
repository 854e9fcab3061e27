/**
 * The repository's shared test-token helpers (test/support/tokens.ts), with `mint` and `kidOf`
 * in the promise form the core suites use.
 */
import { mint as mintSync, type TestKey } from "../../../../test/support/tokens.js";

export { AGENT, b64url, bearer, claims, makeKey, nowSec, signJws, type TestKey } from "../../../../test/support/tokens.js";

export async function kidOf(key: TestKey): Promise<string> {
  return Promise.resolve(key.kid);
}

export async function mint(key: TestKey, payload?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string> {
  return Promise.resolve(mintSync(key, payload, header));
}
