/**
 * No check was lost when local verification stopped handing tokens to jose's `compactVerify`
 * (the guard now verifies the Ed25519 signature over the bytes its own strict parser checked,
 * through `#runtime`). Over random mutations of genuine tokens, jose's `compactVerify` with
 * `EdDSA` pinned is the oracle:
 *
 * - the guard accepts a token only if jose accepts it, and reads the same claims from it;
 * - the guard answers `invalid_signature` only for tokens jose refuses for their signature;
 * - a token jose accepts and the guard refuses is refused by one of the guard's stricter reading
 *   rules (canonical base64url, Go's reading of JSON, the kid rules, claim rules), never for its
 *   algorithm or its signature;
 * - where a mutation leaves the header and payload text untouched, the guard accepts exactly when
 *   jose does.
 *
 * web-runtime.test.ts runs this file again with `#runtime` resolved to the Web Crypto module.
 */
import fc from "fast-check";
import { compactVerify, errors as joseErrors, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { bearerToken, createGuard, isGuardError, type GuardErrorCode } from "../src/index.js";
import { mint } from "../../../test/support/tokens.js";
import { b64url, bearer, claims, makeKey, nowSec, signJws } from "./support/tokens.js";

const key = makeKey();
const attacker = makeKey();
const joseKey = await importJWK(key.jwk, "EdDSA");
const guard = createGuard({ publicKey: key.jwk });

type Ours = { readonly accepted: true; readonly claims: Readonly<Record<string, unknown>> } | { readonly accepted: false; readonly code: GuardErrorCode };
type Jose = { readonly accepted: true; readonly payload: unknown } | { readonly accepted: false; readonly signature: boolean };

async function ours(token: string): Promise<Ours> {
  guard.clearCache(); // every verdict from the verification path, none from a cache
  try {
    const id = await guard.authenticate(bearer(token));
    return { accepted: true, claims: id.claims as unknown as Record<string, unknown> };
  } catch (e) {
    if (!isGuardError(e)) throw e;
    return { accepted: false, code: e.code };
  }
}

/** jose's verdict on the token as the guard reads it from `Authorization: Bearer <token>`. */
async function jose(sent: string): Promise<Jose> {
  const token = bearerToken(bearer(sent)) ?? sent;
  try {
    const { payload } = await compactVerify(token, joseKey, { algorithms: ["EdDSA"] });
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      parsed = undefined;
    }
    return { accepted: true, payload: parsed };
  } catch (e) {
    return { accepted: false, signature: e instanceof joseErrors.JWSSignatureVerificationFailed };
  }
}

/** Codes a token jose accepts may still get: the guard's reading is stricter than jose's. */
const STRICTER: ReadonlySet<GuardErrorCode> = new Set<GuardErrorCode>([
  "malformed_authorization", "token_too_large", "malformed_token", "malformed_claims", "unsupported_crit", "unknown_kid", "token_expired", "token_not_yet_valid",
  "subject_not_agent", "delegation_too_deep", "delegation_widened", "delegation_signature_invalid", "chain_hash_mismatch",
]);

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const segments = (t: string): [string, string, string] => t.split(".") as [string, string, string];
const genuine = (i: number): string => mint(key, claims({ jti: `jti-${String(i)}`, scope: ["read:data:*", `write:data:order-${String(i)}`] }));

/** A mutation of a genuine token, and whether it left the header and payload text as signed. */
interface Mutation {
  readonly token: string;
  readonly signedTextIntact: boolean;
}

const anyChar = fc.constantFrom(...Array.from(B64URL + "+/=. \t,\"\\é\u0000"));
const headerEdits: readonly Record<string, unknown>[] = [
  { alg: "none" }, { alg: "HS256" }, { alg: "ES256" }, { alg: "Ed25519" }, { alg: "eddsa" }, { alg: "EdDSA " }, { alg: ["EdDSA"] },
  { crit: ["b64"], b64: false }, { crit: [] }, { b64: false }, { kid: 7 }, { kid: "" }, { kid: "another-kid" }, { kid: undefined },
  { ALG: "none" }, { Alg: "EdDSA" }, { KID: "x" }, { "\u212Aid": "x" }, { typ: "at+jwt" }, { jku: "https://attacker.example/jwks" }, { x5u: "x" },
];
const claimEdits: readonly Record<string, unknown>[] = [
  { exp: nowSec() + 60.5 }, { exp: String(nowSec() + 60) }, { exp: nowSec() - 3600 }, { nbf: nowSec() + 3600 }, { exp: 4.1e9 },
  { scope: "read:data:*" }, { scope: ["admin"] }, { sub: "admin" }, { sub: "" }, { jti: 1 }, { aud: "x" }, { aud: [1] },
  { Scope: ["admin:data:*"] }, { ſcope: ["admin:data:*"] }, { EXP: 1 }, { delegation_chain: [{ agent: "a", scope: ["x:y:z"], delegated_at: "t" }] },
  { delegation_chain: "x" }, { iss: 7 }, { task_id: 7 },
];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // one character replaced, inserted or removed anywhere
  fc.tuple(fc.nat(99), fc.double({ min: 0, max: 1, noNaN: true }), anyChar, fc.constantFrom("replace", "insert", "delete")).map(([i, at, ch, op]) => {
    const t = genuine(i);
    const p = Math.min(t.length - 1, Math.floor(at * t.length));
    const token = op === "replace" ? t.slice(0, p) + ch + t.slice(p + 1) : op === "insert" ? t.slice(0, p) + ch + t.slice(p) : t.slice(0, p) + t.slice(p + 1);
    return { token, signedTextIntact: token.slice(0, token.lastIndexOf(".")) === t.slice(0, t.lastIndexOf(".")) };
  }),
  // one bit of the signature flipped, re-encoded canonically
  fc.tuple(fc.nat(99), fc.nat(511)).map(([i, bit]) => {
    const [h, p, s] = segments(genuine(i));
    const sig = Buffer.from(s, "base64url");
    sig[bit >> 3] = (sig[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    return { token: `${h}.${p}.${sig.toString("base64url")}`, signedTextIntact: true };
  }),
  // the signature's last character replaced (non-canonical unused bits, among others)
  fc.tuple(fc.nat(99), fc.constantFrom(...Array.from(B64URL))).map(([i, ch]) => {
    const t = genuine(i);
    return { token: t.slice(0, -1) + ch, signedTextIntact: true };
  }),
  // another genuine token's signature, or an attacker's signature over the same text
  fc.tuple(fc.nat(99), fc.nat(99), fc.boolean()).map(([i, j, byAttacker]) => {
    const [h, p] = segments(genuine(i));
    const s = byAttacker ? segments(signJws(JSON.parse(Buffer.from(h, "base64url").toString()), JSON.parse(Buffer.from(p, "base64url").toString()), attacker.privateKey))[2] : segments(genuine(j))[2];
    return { token: `${h}.${p}.${s}`, signedTextIntact: true };
  }),
  // padding, the standard alphabet, or whitespace in a segment
  fc.tuple(fc.nat(99), fc.nat(2), fc.constantFrom("pad", "std", "space")).map(([i, seg, how]) => {
    const parts = segments(genuine(i));
    const s = parts[seg] ?? "";
    parts[seg] = how === "pad" ? s + "=".repeat(4 - (s.length % 4 || 4) || 1) : how === "std" ? Buffer.from(s, "base64url").toString("base64").replace(/=+$/, "") : s.slice(0, 4) + " " + s.slice(4);
    return { token: parts.join("."), signedTextIntact: false };
  }),
  // a header or claim edited: re-signed with the trusted key (a genuine signature), or not
  fc.tuple(fc.nat(99), fc.oneof(fc.constantFrom(...headerEdits).map((h) => ({ h, c: {} })), fc.constantFrom(...claimEdits).map((c) => ({ h: {}, c }))), fc.boolean()).map(([i, { h, c }, resign]) => {
    const [hs, ps, ss] = segments(genuine(i));
    const header = { ...(JSON.parse(Buffer.from(hs, "base64url").toString()) as Record<string, unknown>), ...h };
    const payload = { ...(JSON.parse(Buffer.from(ps, "base64url").toString()) as Record<string, unknown>), ...c };
    const token = resign ? signJws(header, payload, key.privateKey) : `${b64url(header)}.${b64url(payload)}.${ss}`;
    return { token, signedTextIntact: false };
  }),
  // claims text with number spellings JSON.stringify never writes (re-signed)
  fc.tuple(fc.nat(99), fc.constantFrom("1e3", "1.0", "-0", "1E+3", "0.5", "10")).map(([i, n]) => {
    const [hs, ps] = segments(genuine(i));
    const text = Buffer.from(ps, "base64url").toString().replace(/"nbf":\d+/, `"nbf":${n}`);
    return { token: signJws(JSON.parse(Buffer.from(hs, "base64url").toString()), text, key.privateKey), signedTextIntact: false };
  }),
);

describe("local verification agrees with jose's compactVerify (EdDSA pinned)", () => {
  it("genuine tokens are accepted by both, with the same claims", async () => {
    for (let i = 0; i < 5; i++) {
      const t = genuine(i);
      const [o, j] = [await ours(t), await jose(t)];
      expect(o.accepted && j.accepted).toBe(true);
      if (o.accepted && j.accepted) expect(o.claims).toMatchObject(j.payload as Record<string, unknown>);
    }
  });

  it("over random mutations of genuine tokens: never accepts what jose refuses, never disagrees on a signature", async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(mutation, async ({ token, signedTextIntact }) => {
        const [o, j] = [await ours(token), await jose(token)];
        const label = `${o.accepted ? "accepted" : o.code} / jose ${j.accepted ? "accepted" : j.signature ? "signature" : "refused"}`;
        seen.set(label, (seen.get(label) ?? 0) + 1);
        if (o.accepted) {
          expect(j.accepted, "accepted a token jose refuses").toBe(true);
          const { sub, jti, scope, exp } = j.accepted ? (j.payload as Record<string, unknown>) : {};
          expect(o.claims).toMatchObject({ sub, jti, scope, exp });
          return;
        }
        if (o.code === "invalid_signature") expect(j, "invalid_signature for a token whose signature jose accepts").toEqual({ accepted: false, signature: true });
        if (j.accepted) expect(STRICTER.has(o.code), `refused ${o.code} a token jose accepts`).toBe(true);
        if (signedTextIntact && !j.accepted && j.signature) {
          // The signature text is the only change: a canonical 64-byte segment must reach the signature check.
          const sig = token.slice(token.lastIndexOf(".") + 1);
          const canonical = Buffer.from(sig, "base64url").length === 64 && Buffer.from(sig, "base64url").toString("base64url") === sig;
          expect(o.code).toBe(canonical ? "invalid_signature" : "malformed_token");
        }
      }),
      { numRuns: 700 },
    );
    // The mutations reached every kind of verdict (a generator that only made garbage would prove little).
    const labels = [...seen.keys()];
    expect(labels).toContain("accepted / jose accepted");
    expect(labels).toContain("invalid_signature / jose signature");
    expect(labels.some((l) => l.endsWith("/ jose accepted") && !l.startsWith("accepted"))).toBe(true);
    expect(labels.some((l) => l.startsWith("malformed_token"))).toBe(true);
  });

  it("where only the signature changed, the guard accepts exactly when jose does", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(99), fc.nat(99), fc.nat(511), fc.constantFrom("bit", "swap", "attacker"), async (i, j, bit, how) => {
        const [h, p, s] = segments(genuine(i));
        let sig: string;
        if (how === "bit") {
          const b = Buffer.from(s, "base64url");
          b[bit >> 3] = (b[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          sig = b.toString("base64url");
        } else if (how === "swap") {
          sig = segments(genuine(j))[2];
        } else {
          sig = segments(signJws(JSON.parse(Buffer.from(h, "base64url").toString()), JSON.parse(Buffer.from(p, "base64url").toString()), attacker.privateKey))[2];
        }
        const token = `${h}.${p}.${sig}`;
        const [o, jo] = [await ours(token), await jose(token)];
        expect(o.accepted).toBe(jo.accepted);
        if (!o.accepted) expect([o.code, jo]).toEqual(["invalid_signature", { accepted: false, signature: true }]);
      }),
      { numRuns: 200 },
    );
  });
});
