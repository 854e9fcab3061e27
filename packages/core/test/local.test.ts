import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createGuard, isGuardError, type DecisionEvent, type GuardErrorCode } from "../src/index.js";
import { countSignatureChecks } from "./support/signatures.js";
import { AGENT, b64url, bearer, claims, kidOf, makeKey, mint, nowSec, signJws } from "./support/tokens.js";

const key = makeKey();
const other = makeKey();

async function rejects(guardToken: Promise<unknown>, code: GuardErrorCode, status = 401): Promise<void> {
  const err: unknown = await guardToken.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGuardError(err), `expected GuardError ${code}`).toBe(true);
  expect(err).toMatchObject({ code, status });
}

describe("local mode: accepts genuine agent tokens", () => {
  it("with PEM, JWK and raw keys, with and without kid", async () => {
    for (const publicKey of [key.publicKeyPem, key.jwk, key.rawBase64, [other.jwk, key.publicKeyPem]]) {
      const guard = createGuard({ publicKey });
      const id = await guard.authenticate(bearer(await mint(key)));
      expect(id).toMatchObject({ agentId: AGENT, taskId: "task-1", orchId: "orch-1", source: "local", delegationDepth: 0 });
      expect(id.expiresAt).toBeInstanceOf(Date);
      expect(id.trustDomain).toBe("agentwrit.local");
      const noKid = signJws({ alg: "EdDSA", typ: "JWT" }, claims(), key.privateKey);
      await expect(guard.authenticate(bearer(noKid))).resolves.toMatchObject({ agentId: AGENT });
    }
  });
  it("scheme is case-insensitive and the cache answers the second time without signature work", async () => {
    const events: DecisionEvent[] = [];
    const guard = createGuard({ publicKey: key.jwk, onDecision: (e) => events.push(e) });
    const t = await mint(key);
    await guard.authenticate("bEaReR " + t);
    const spy = countSignatureChecks();
    const again = await guard.authenticate("Bearer " + t);
    expect(spy.count).toBe(0);
    spy.restore();
    expect(again.source).toBe("cache");
    expect(events.map((e) => [e.outcome, e.source])).toEqual([["allow", "local"], ["allow", "cache"]]);
    expect(events[0]).toMatchObject({ phase: "authenticate", agentId: AGENT, jti: "0123456789abcdef0123456789abcdef", delegationDepth: 0 });
    expect(events[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe("verified-token cache", () => {
  it("concurrent requests with one new token share one signature check", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const t = await mint(key);
    const spy = countSignatureChecks();
    const all = await Promise.all(Array.from({ length: 100 }, () => guard.authenticate(bearer(t))));
    expect(all.every((id) => id.agentId === AGENT)).toBe(true);
    expect(spy.count).toBe(1);
    spy.restore();
  });
  it("a flood of bad tokens never evicts a verified one", async () => {
    const guard = createGuard({ publicKey: key.jwk, cache: { max: 2 } });
    const t = await mint(key);
    await guard.authenticate(bearer(t));
    for (let i = 0; i < 50; i++) {
      await rejects(guard.authenticate(bearer(signJws({ alg: "EdDSA", kid: await kidOf(key) }, claims({ jti: `f${String(i)}` }), other.privateKey))), "invalid_signature");
      await rejects(guard.authenticate(`Bearer garbage${String(i)}.x.y`), "malformed_token");
    }
    const spy = countSignatureChecks();
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache" });
    expect(spy.count).toBe(0);
    spy.restore();
    expect(guard.stats()).toMatchObject({ cacheSize: 1, refusalCacheSize: 50 });
  });
  it("an entry serves only its exact token: a genuine signature on another payload misses and evicts nothing", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const t = await mint(key);
    await guard.authenticate(bearer(t));
    const [h, , s] = t.split(".") as [string, string, string];
    const swapped = `${h}.${b64url({ ...claims(), scope: ["admin:everything:*"] })}.${s}`;
    for (let i = 0; i < 2; i++) await rejects(guard.authenticate(bearer(swapped)), "invalid_signature");
    const spy = countSignatureChecks();
    await expect(guard.authenticate(bearer(t))).resolves.toMatchObject({ source: "cache", scope: ["read:data:customer-42", "write:data:order-7"] });
    expect(spy.count).toBe(0);
    spy.restore();
  });
  it("any spelling of the scheme reaches the same cache entry", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const t = await mint(key);
    await guard.authenticate("bearer " + t);
    const spy = countSignatureChecks();
    for (const h of ["Bearer " + t, "BEARER " + t, "Bearer   " + t, " Bearer " + t + " "]) {
      await expect(guard.authenticate(h)).resolves.toMatchObject({ source: "cache" });
    }
    expect(spy.count).toBe(0);
    spy.restore();
  });
  it("entries never outlive exp", async () => {
    const guard = createGuard({ publicKey: key.jwk, clockToleranceSec: 0 });
    const exp = nowSec() + 2;
    const t = await mint(key, claims({ exp }));
    await guard.authenticate(bearer(t));
    const realNow = Date.now;
    Date.now = () => (exp + 1) * 1000;
    try {
      await rejects(guard.authenticate(bearer(t)), "token_expired");
    } finally {
      Date.now = realNow;
    }
  });
});

describe("local mode: every rejection", () => {
  const guard = createGuard({ publicKey: key.jwk, audience: "https://api.example", issuer: "https://broker.example", trustDomain: "agentwrit.local" });
  const ok = (o: Record<string, unknown> = {}) => claims({ aud: ["https://api.example"], iss: "https://broker.example", ...o });

  it("missing or empty header → bare challenge", async () => {
    for (const h of [undefined, null, "", "   "]) {
      const e = await guard.authenticate(h).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: "missing_token", status: 401, wwwAuthenticate: "Bearer" });
    }
  });
  it("wrong scheme → bare challenge", async () => {
    const e = await guard.authenticate("Basic dXNlcjpwYXNz").catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "unsupported_scheme", wwwAuthenticate: "Bearer" });
  });
  it.each(["Bearer", "Bearer  a b", "Bearer a,b", "Bearer x\u0000y", "Bearer tok%en", "Bearer\ttok, Bearer tok2", "Bearer é"])(
    "malformed Authorization %j → invalid_request",
    async (h) => {
      const e = await guard.authenticate(h).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: "malformed_authorization", status: 401 });
      expect((e as { wwwAuthenticate: string }).wwwAuthenticate).toContain('error="invalid_request"');
    },
  );
  it("token over the size cap is refused before parsing", async () => {
    await rejects(guard.authenticate("Bearer " + "a".repeat(17_000)), "token_too_large");
    await rejects(guard.authenticate("Bearer " + "a".repeat(1_000_000)), "token_too_large");
  });
  it("structure: segments, padding, non-canonical base64url, non-object JSON", async () => {
    const t = await mint(key, ok());
    const [h, p, s] = t.split(".") as [string, string, string];
    const cases = [
      "single-part",
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${s.slice(0, -1)}${s.endsWith("A") ? "B" : "A"}x`,
      `${b64url("[1]")}.${p}.${s}`,
      `${h}.${p}.${s.slice(0, 40)}`,
      `.${p}.${s}`,
    ];
    for (const c of cases) {
      await rejects(guard.authenticate(bearer(c)), "malformed_token");
    }
    // Payloads that are not a JSON object, even when genuinely signed.
    for (const body of ["null", "[1]", "{not json", "\"x\"", "\ufeff{}"]) {
      await rejects(guard.authenticate(bearer(signJws({ alg: "EdDSA", kid: await kidOf(key) }, body, key.privateKey))), "malformed_token");
    }
    // "=" inside the token breaks RFC 6750's b64token grammar.
    await rejects(guard.authenticate(bearer(`${h}=.${p}.${s}`)), "malformed_authorization");
    // A last character differing only in unused low bits (Go accepts it; we do not).
    const last = s[s.length - 1]!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    await rejects(guard.authenticate(bearer(`${h}.${p}.${s.slice(0, -1)}${twin}`)), "malformed_token");
  });
  it.each([["none"], ["HS256"], ["RS256"], ["ES256"], ["eddsa"], ["Ed25519"], [undefined]])("alg %s → unsupported_alg", async (alg) => {
    const header = alg === undefined ? { typ: "JWT" } : { alg, typ: "JWT" };
    await rejects(guard.authenticate(bearer(signJws(header, ok(), key.privateKey))), "unsupported_alg");
  });
  it("HS256 keyed with the public key bytes → unsupported_alg", async () => {
    const input = b64url({ alg: "HS256", typ: "JWT" }) + "." + b64url(ok());
    const mac = createHmac("sha256", key.publicKeyPem).update(input).digest("base64url");
    await rejects(guard.authenticate(bearer(input + "." + mac)), "unsupported_alg");
  });
  it("alg none with an empty signature → unsupported_alg", async () => {
    await rejects(guard.authenticate(bearer(b64url({ alg: "none" }) + "." + b64url(ok()) + ".")), "unsupported_alg");
    await rejects(guard.authenticate(bearer(b64url({ alg: "none" }) + "." + b64url(ok()) + ".AAAA")), "unsupported_alg");
  });
  it("unknown crit → unsupported_crit", async () => {
    await rejects(guard.authenticate(bearer(await mint(key, ok(), { crit: ["exp"], exp: 1 }))), "unsupported_crit");
  });
  it("kid that matches no configured key → unknown_kid; signed by another key → invalid_signature", async () => {
    await rejects(guard.authenticate(bearer(await mint(key, ok(), { kid: "wrong-kid-value" }))), "unknown_kid");
    await rejects(guard.authenticate(bearer(await mint(other, ok()))), "unknown_kid");
    const forged = signJws({ alg: "EdDSA", typ: "JWT", kid: await kidOf(key) }, ok(), other.privateKey);
    await rejects(guard.authenticate(bearer(forged)), "invalid_signature");
    const noKid = signJws({ alg: "EdDSA", typ: "JWT" }, ok(), other.privateKey);
    await rejects(guard.authenticate(bearer(noKid)), "invalid_signature");
  });
  it("a flipped payload byte or signature bit → invalid_signature", async () => {
    const t = await mint(key, ok());
    const [h, p, s] = t.split(".") as [string, string, string];
    const payload = b64url({ ...ok(), scope: ["write:data:*"] });
    await rejects(guard.authenticate(bearer(`${h}.${payload}.${s}`)), "invalid_signature");
    const sig = Buffer.from(s, "base64url");
    sig[5] = sig[5]! ^ 1;
    await rejects(guard.authenticate(bearer(`${h}.${p}.${sig.toString("base64url")}`)), "invalid_signature");
  });
  it("a forged token repeated is refused from the cache without signature work", async () => {
    const forged = signJws({ alg: "EdDSA", typ: "JWT", kid: await kidOf(key) }, ok(), other.privateKey);
    await rejects(guard.authenticate(bearer(forged)), "invalid_signature");
    const spy = countSignatureChecks();
    await rejects(guard.authenticate(bearer(forged)), "invalid_signature");
    expect(spy.count).toBe(0);
    spy.restore();
  });
  it.each<[string, Record<string, unknown>]>([
    ["empty sub", { sub: "" }],
    ["missing sub", { sub: undefined }],
    ["missing jti", { jti: undefined }],
    ["empty jti", { jti: "" }],
    ["exp 0", { exp: 0 }],
    ["fractional exp", { exp: nowSec() + 10.5 }],
    ["string exp", { exp: String(nowSec() + 10) }],
    ["string aud", { aud: "https://api.example" }],
    ["string scope", { scope: "read:data:x" }],
    ["null scope", { scope: null }],
    ["invalid scope entry", { scope: ["read:data:x", "read::x"] }],
    ["numeric iss", { iss: 1 }],
    ["chain not a list", { delegation_chain: { agent: "x" } }],
    ["chain record without scope", { delegation_chain: [{ agent: "x", delegated_at: "t" }] }],
    ["a claim spelled in another case (Go would read it)", { Scope: ["read:data:*"] }],
    ["SUB next to sub", { SUB: "admin" }],
  ])("%s → malformed_claims", async (_name, o) => {
    await rejects(guard.authenticate(bearer(await mint(key, ok(o)))), "malformed_claims");
  });
  it("expiry and not-before with tolerance", async () => {
    const t = nowSec();
    await rejects(guard.authenticate(bearer(await mint(key, ok({ exp: t - 6 })))), "token_expired");
    await expect(guard.authenticate(bearer(await mint(key, ok({ exp: t - 4, jti: "a1" }))))).resolves.toBeDefined();
    await rejects(guard.authenticate(bearer(await mint(key, ok({ nbf: t + 60 })))), "token_not_yet_valid");
    await expect(guard.authenticate(bearer(await mint(key, ok({ nbf: t + 3, jti: "a2" }))))).resolves.toBeDefined();
    const strict = createGuard({ publicKey: key.jwk, clockToleranceSec: 0 });
    await rejects(strict.authenticate(bearer(await mint(key, claims({ exp: t - 1 })))), "token_expired");
  });
  it("issuer, audience, subject kind and trust domain", async () => {
    await rejects(guard.authenticate(bearer(await mint(key, ok({ iss: "" })))), "issuer_mismatch");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ aud: ["https://other.example"] })))), "audience_mismatch");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ aud: undefined })))), "audience_mismatch");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ sub: "admin" })))), "subject_not_agent");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ sub: "app:app-x-123456" })))), "subject_not_agent");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ sub: "spiffe://agentwrit.local/workload/x" })))), "subject_not_agent");
    await rejects(guard.authenticate(bearer(await mint(key, ok({ sub: "spiffe://evil.example/agent/o/t/i" })))), "trust_domain_mismatch");
    const lax = createGuard({ publicKey: key.jwk, allowNonAgentSubjects: true, audience: ["a", "https://api.example"] });
    await expect(lax.authenticate(bearer(await mint(key, ok({ sub: "admin" }))))).resolves.toMatchObject({ agentId: "admin", trustDomain: undefined });
  });
  it("never puts token text into messages, headers or bodies", async () => {
    const t = await mint(other, ok());
    const e = (await guard.authenticate(bearer(t)).catch((x: unknown) => x)) as Error & { headers: object; problem: object };
    const all = JSON.stringify([e.message, e.headers, e.problem, e.cause instanceof Error ? e.cause.message : ""]);
    for (const part of t.split(".")) expect(all).not.toContain(part.slice(0, 20));
  });
});

describe("key rotation", () => {
  it("a list of keys accepts tokens from each; a removed key is no longer trusted", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const g = createGuard({ publicKey: [key.jwk, other.publicKeyPem] });
    await expect(g.authenticate(bearer(await mint(key)))).resolves.toBeDefined();
    await expect(g.authenticate(bearer(await mint(other)))).resolves.toBeDefined();
    const s = signJws({ alg: "EdDSA" }, claims(), privateKey);
    await rejects(g.authenticate(bearer(s)), "invalid_signature");
    expect(sign).toBeTypeOf("function");
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});
