/**
 * Property tests: scope algebra laws and agreement with an independent reference model of the
 * broker's Go rules; `authenticate` only ever resolves for tokens signed by a configured key and
 * only ever throws `GuardError`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRequirement, createGuard, evaluateRequirement, isGuardError, parseScope, scopeCovers, scopeIsSubset } from "../src/index.js";
import { bearer, claims, makeKey, mint, signJws } from "./support/tokens.js";

// ---- reference model, written from the Go source's description (strings.SplitN, ParseScope, scopeCovers)
function goSplitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}
function refParse(s: string): [string, string, string] | null {
  const parts = goSplitN(s, ":", 3);
  if (parts.length !== 3 || parts.some((p) => p === "")) return null;
  return parts as [string, string, string];
}
function refCovers(r: string, a: string): boolean {
  const rp = refParse(r);
  const ap = refParse(a);
  if (rp === null || ap === null) return false;
  return rp[0] === ap[0] && rp[1] === ap[1] && (ap[2] === "*" || ap[2] === rp[2]);
}
const refSubset = (req: string[], held: string[]): boolean => req.every((r) => held.some((h) => refCovers(r, h)));

const piece = fc.constantFrom(":", "*", "a", "b", "read", "data", " ", "é", "😀", "::", "x:*", "");
const scopeish = fc.array(piece, { maxLength: 7 }).map((p) => p.join(""));
const validScope = fc
  .tuple(fc.constantFrom("read", "write", "*"), fc.constantFrom("data", "reports", "*"), fc.constantFrom("x", "y", "*", "a:b", "x:*"))
  .map(([a, r, i]) => `${a}:${r}:${i}`);
const anyScope = fc.oneof(scopeish, validScope, fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 8 }));

describe("scope algebra properties", () => {
  it("agrees with the Go reference model on random strings", () => {
    fc.assert(
      fc.property(fc.array(anyScope, { maxLength: 5 }), fc.array(anyScope, { maxLength: 5 }), (req, held) => {
        expect(scopeIsSubset(req, held)).toBe(refSubset(req, held));
        for (const r of req) for (const h of held) expect(scopeCovers(r, h)).toBe(refCovers(r, h));
        for (const s of req) expect(parseScope(s) === null).toBe(refParse(s) === null);
      }),
      { numRuns: 3000 },
    );
  });
  it("laws: empty is a subset; valid sets are reflexive; monotone in held; transitive", () => {
    fc.assert(
      fc.property(fc.array(validScope, { maxLength: 4 }), fc.array(validScope, { maxLength: 4 }), fc.array(validScope, { maxLength: 4 }), (a, b, c) => {
        expect(scopeIsSubset([], a)).toBe(true);
        expect(scopeIsSubset(a, a)).toBe(true);
        if (scopeIsSubset(a, b)) expect(scopeIsSubset(a, [...b, ...c])).toBe(true);
        if (scopeIsSubset(a, b) && scopeIsSubset(b, c)) expect(scopeIsSubset(a, c)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
  it("an invalid scope is never covered, not even by itself", () => {
    fc.assert(
      fc.property(anyScope, (s) => {
        if (parseScope(s) === null) expect(scopeCovers(s, s)).toBe(false);
      }),
    );
  });
  it("a template value never widens the requirement", () => {
    const req = compileRequirement("write:data:order-{id}");
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("*", "%2A", "", "a/b", "..", "7*", " 7")), fc.array(validScope, { maxLength: 3 }), (value, held) => {
        let satisfied: boolean;
        try {
          satisfied = evaluateRequirement(req, [...held, "write:data:order-7"], { id: value }).satisfied;
        } catch (e) {
          expect(e).toMatchObject({ code: "invalid_parameter" });
          return;
        }
        if (satisfied) {
          expect(value).not.toMatch(/[*%\s{}]/);
          expect(scopeIsSubset([`write:data:order-${value}`], [...held, "write:data:order-7"])).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("authenticate properties", () => {
  const key = makeKey();
  const attacker = makeKey();
  const guard = createGuard({ publicKey: key.jwk });

  it("never throws anything but a GuardError on arbitrary header strings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string().map((s) => "Bearer " + s), fc.constant(undefined), fc.constant(null)), async (h) => {
        const outcome = await guard.authenticate(h).then(
          () => "resolved",
          (e: unknown) => (isGuardError(e) ? "guard-error" : "other"),
        );
        expect(outcome).toBe("guard-error");
      }),
      { numRuns: 1500 },
    );
  });
  it("never resolves for a token not signed by a configured key", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 2 }), async (headerExtra, payloadExtra) => {
        const payload = typeof payloadExtra === "object" && payloadExtra !== null && !Array.isArray(payloadExtra) ? { ...claims(), ...payloadExtra } : claims();
        const forged = signJws({ alg: "EdDSA", ...headerExtra }, payload, attacker.privateKey);
        await expect(guard.authenticate(bearer(forged))).rejects.toSatisfy(isGuardError);
      }),
      { numRuns: 300 },
    );
  });
  it("any single-character mutation of a genuine token is refused", async () => {
    const genuine = await mint(key);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: genuine.length - 1 }), fc.constantFrom(...Array.from(alphabet)), async (pos, ch) => {
        const mutated = genuine.slice(0, pos) + ch + genuine.slice(pos + 1);
        if (mutated === genuine) return;
        await expect(guard.authenticate(bearer(mutated))).rejects.toSatisfy(isGuardError);
      }),
      { numRuns: 500 },
    );
  });
});
