/**
 * Counts Ed25519 signature verifications on whichever path the core takes: `node:crypto`'s
 * `verify` (the "node" condition of `#runtime`) or Web Crypto's `subtle.verify` (every other
 * runtime, and delegation records). The built-in module's export is replaced and the ES module
 * bindings re-synchronised, so that the core's `import { verify } from "node:crypto"` sees it.
 */
import type * as NodeCryptoModule from "node:crypto";
import { createRequire, syncBuiltinESMExports } from "node:module";

type NodeCrypto = typeof NodeCryptoModule;
const nodeCrypto = createRequire(import.meta.url)("node:crypto") as NodeCrypto;

export interface SignatureCounter {
  /** Verifications started since the counter was made. */
  readonly count: number;
  restore(): void;
}

export function countSignatureChecks(): SignatureCounter {
  let count = 0;
  const nodeVerify = nodeCrypto.verify;
  const subtle = globalThis.crypto.subtle;
  const subtleVerify = subtle.verify.bind(subtle);
  const ownVerify = Object.getOwnPropertyDescriptor(subtle, "verify");
  nodeCrypto.verify = ((...args: Parameters<NodeCrypto["verify"]>) => {
    count++;
    return (nodeVerify as (...a: unknown[]) => unknown)(...args);
  }) as NodeCrypto["verify"];
  syncBuiltinESMExports();
  subtle.verify = (...args: Parameters<SubtleCrypto["verify"]>) => {
    count++;
    return subtleVerify(...args);
  };
  return {
    get count() {
      return count;
    },
    restore() {
      nodeCrypto.verify = nodeVerify;
      syncBuiltinESMExports();
      if (ownVerify === undefined) Reflect.deleteProperty(subtle, "verify");
      else Object.defineProperty(subtle, "verify", ownVerify);
    },
  };
}
