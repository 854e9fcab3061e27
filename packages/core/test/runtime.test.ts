/**
 * `#runtime`: Node takes runtime-node.ts (node:crypto, Buffer), every other runtime
 * runtime-web.ts (Web Crypto, the core's own decoder). Both must answer exactly alike on the
 * inputs the core gives them, and on every other input too.
 */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { decodeBase64UrlStrict } from "../src/encoding.js";
import * as node from "../src/runtime-node.js";
import * as web from "../src/runtime-web.js";
import { createGuard } from "../src/index.js";
import { countSignatureChecks } from "./support/signatures.js";
import { bearer, makeKey, mint, signJws } from "./support/tokens.js";

const key = makeKey();
const other = makeKey();
// The core imports its keys extractable (node:crypto's KeyObject needs that); any other key is
// verified through Web Crypto on Node too.
const extractable = await crypto.subtle.importKey("jwk", key.jwk, { name: "Ed25519" }, true, ["verify"]);
const nonExtractable = await crypto.subtle.importKey("jwk", key.jwk, { name: "Ed25519" }, false, ["verify"]);
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** The bytes as a plain Uint8Array (node's are a Buffer, a subclass). */
const bytes = (b: Uint8Array | null): Uint8Array | null => (b === null ? null : Uint8Array.from(b));
const segmentish = fc.string({ unit: fc.constantFrom(...Array.from(B64URL + "+/= .")), maxLength: 130 });

describe("#runtime", () => {
  it("is runtime-node.ts under Node: local verification never goes through crypto.subtle", async () => {
    const runtime = await import("#runtime");
    expect(runtime.verifyJwsSignature).toBe(node.verifyJwsSignature);
    const subtle = vi.spyOn(crypto.subtle, "verify");
    const counter = countSignatureChecks();
    try {
      await createGuard({ publicKey: key.jwk }).authenticate(bearer(await mint(key)));
      expect(counter.count).toBe(1);
      expect(subtle).not.toHaveBeenCalled();
    } finally {
      counter.restore();
      subtle.mockRestore();
    }
  });

  it("decodeSegment: on every canonical segment both decode exactly as the strict decoder", () => {
    fc.assert(
      fc.property(segmentish, (s) => {
        const strict = decodeBase64UrlStrict(s);
        if (strict === null || s === "") return; // the core hands over canonical, non-empty segments only
        expect(bytes(node.decodeSegment(s))).toEqual(strict);
        expect(bytes(web.decodeSegment(s))).toEqual(strict);
      }),
      { numRuns: 3000 },
    );
    // Every length and every final character, exhaustively for short segments.
    for (let len = 1; len <= 9; len++) {
      for (const last of B64URL) {
        const s = "Qm".repeat(5).slice(0, len - 1) + last;
        const strict = decodeBase64UrlStrict(s);
        if (strict === null) continue;
        expect(bytes(node.decodeSegment(s))).toEqual(strict);
        expect(bytes(web.decodeSegment(s))).toEqual(strict);
      }
    }
  });

  it.each([
    ["an extractable key (node:crypto)", extractable, 0],
    ["a non-extractable key (Web Crypto on Node too)", nonExtractable, 1],
  ] as const)("verifyJwsSignature with %s: the same verdict from both on genuine, altered and foreign signatures; never a rejection", async (_name, cryptoKey, subtleCalls) => {
    const token = await mint(key);
    const dot = token.lastIndexOf(".");
    const input = token.slice(0, dot);
    const sig = token.slice(dot + 1);
    const foreign = signJws({ alg: "EdDSA" }, {}, other.privateKey);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constant({ i: input, s: sig }),
          fc.tuple(fc.nat(input.length - 1), fc.constantFrom(...Array.from(B64URL))).map(([p, c]) => ({ i: input.slice(0, p) + c + input.slice(p + 1), s: sig })),
          fc.nat(511).map((bit) => {
            const b = Buffer.from(sig, "base64url");
            b[bit >> 3] = (b[bit >> 3] ?? 0) ^ (1 << (bit & 7));
            return { i: input, s: b.toString("base64url") };
          }),
          fc.constant({ i: input, s: foreign.slice(foreign.lastIndexOf(".") + 1) }),
          segmentish.map((s) => ({ i: input, s })),
        ),
        async ({ i, s }) => {
          const subtle = vi.spyOn(crypto.subtle, "verify");
          let a: boolean;
          try {
            a = await node.verifyJwsSignature(cryptoKey, i, s);
            if (Buffer.from(s, "base64url").length === 64) expect(subtle).toHaveBeenCalledTimes(subtleCalls);
          } finally {
            subtle.mockRestore();
          }
          expect(a).toBe(await web.verifyJwsSignature(cryptoKey, i, s));
          expect(a).toBe(i === input && s === sig);
        },
      ),
      { numRuns: 400 },
    );
  });
});
