/**
 * Attack suite: hostile tokens and requests through the Express (supertest), Fastify (inject) and
 * Hono (app.request) adapters, built from the conformance harness and fixture. Tokens come from
 * the dev broker, from rewrites of its tokens, from its own signing key (shapes it will not issue)
 * and from an attacker's keys. Every case names the status and problem `code` it must get.
 *
 * Duplicate JSON keys: the guard reads claims with JSON.parse, where the last of two equal keys
 * wins, as in jose and in Go's encoding/json (the broker's decoder). Only a token signed by the
 * broker key can carry them (an attacker's re-signed copy fails the signature first), and the
 * guard then decides on the same value the broker does. Go also matches keys case-insensitively
 * ("Scope" fills `scope`); JSON.parse does not. The suite pins what the guard does in both cases.
 */
import { createGuard, type Guard } from "@agentwrit/guard";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AUDIENCE, setUpTokens, type Fixture } from "../conformance/fixtures.js";
import { adaptersFor, listen, type Adapter, type Authorization, type RouteSpec } from "../conformance/harness.js";
import { b64url } from "../support/tokens.js";
import { Report } from "./report.js";
import { minter, payloadOf, signRaw, type Minter } from "./tokens.js";

type AdapterName = "express" | "fastify" | "hono";
interface Expect {
  readonly status: number;
  readonly code?: string | undefined;
  /** Exact `WWW-Authenticate`, where the case pins it. */
  readonly challenge?: string;
}
interface Case extends Expect {
  readonly name: string;
  readonly path: string;
  readonly auth: Authorization;
  readonly headers?: Readonly<Record<string, string>>;
  /** Where one framework answers before the guard is reached (e.g. Node's 16 KiB header limit). */
  readonly byAdapter?: Partial<Record<AdapterName, Expect>>;
}

const REALM = "security";
const BARE = `Bearer realm="${REALM}"`;
const report = new Report();
let fx: Fixture;
let m: Minter;
let adapters: Adapter[];
let guards: Record<"hybrid" | "broker" | "local" | "deep" | "big" | "clock", Guard>;
let claims: Record<string, unknown>;
let holder: string;

const bearer = (t: string | undefined): string => "Bearer " + (t ?? "");
const tok = (name: string): string => bearer(fx.tokens[name]);

beforeAll(async () => {
  fx = await setUpTokens();
  m = minter(fx.signingKey, fx.broker.kid);
  claims = payloadOf(fx.tokens.ok!);
  const common = { audience: AUDIENCE, issuer: "", realm: REALM } as const;
  const key = fx.broker.publicKeyPem;
  guards = {
    hybrid: createGuard({ ...common, brokerUrl: fx.broker.url, publicKey: key, trustDomain: "agentwrit.local", maxDelegationDepth: 1 }),
    broker: createGuard({ ...common, brokerUrl: fx.broker.url }),
    local: createGuard({ ...common, publicKey: key }),
    deep: createGuard({ ...common, publicKey: key }),
    big: createGuard({ ...common, publicKey: key, maxTokenBytes: 1 << 20 }),
    clock: createGuard({ ...common, publicKey: key, clockToleranceSec: 5 }),
  };
  const routes: RouteSpec[] = [
    { path: "/h/plain", guard: guards.hybrid },
    { path: "/h/read42", guard: guards.hybrid, requirement: "read:data:customer-42" },
    { path: "/h/order7", guard: guards.hybrid, requirement: "write:data:order-7", viaConfig: true },
    { path: "/h/tpl/:id", guard: guards.hybrid, requirement: "read:data:customer-{id}" },
    { path: "/h/opt/:id?", guard: guards.hybrid, requirement: "read:data:customer-{id}" },
    { path: "/b/plain", guard: guards.broker },
    { path: "/b/read42", guard: guards.broker, requirement: "read:data:customer-42" },
    { path: "/l/plain", guard: guards.local },
    { path: "/l/read42", guard: guards.local, requirement: "read:data:customer-42" },
    { path: "/d/plain", guard: guards.deep },
    { path: "/big/read42", guard: guards.big, requirement: "read:data:customer-42" },
    { path: "/big/x", guard: guards.big, requirement: "admin:all:x" },
    { path: "/c/plain", guard: guards.clock },
  ];
  adapters = await adaptersFor(routes);
  holder = (
    await fx.broker.createAgent({
      orchId: "orch-1",
      taskId: "task-tpl",
      scope: ["read:data:customer-a/b", "read:data:customer-é", "read:data:customer-..", "read:data:customer-\u202e42"],
    })
  ).accessToken;
});

afterAll(async () => {
  await Promise.all([...adapters.map((a) => a.close()), fx.close()]);
  report.write();
});

/** Runs cases through every adapter; counts each (case × adapter) in the category; fails listing every miss. */
async function run(category: string, cases: readonly Case[]): Promise<void> {
  const tally = report.get(category);
  const misses: string[] = [];
  for (const c of cases) {
    for (const adapter of adapters) {
      const want = c.byAdapter?.[adapter.name as AdapterName] ?? c;
      const a = await adapter.send(c.path, c.auth, c.headers);
      const ok =
        a.status === want.status &&
        (want.code === undefined || a.body.code === want.code) &&
        (want.status !== 200 || typeof a.body.agent === "string") &&
        (want.challenge === undefined || a.wwwAuthenticate === want.challenge);
      if (!tally.check(`${adapter.name}: ${c.name}`, ok)) {
        misses.push(`${adapter.name}: ${c.name}: got ${a.status} ${String(a.body.code)} (${String(a.wwwAuthenticate)}), want ${want.status} ${String(want.code)}`);
      }
    }
  }
  expect(misses).toEqual([]);
}

const deny = (name: string, path: string, auth: Authorization, code: string, status = 401): Case => ({ name, path, auth, status, code });
const allow = (name: string, path: string, auth: Authorization): Case => ({ name, path, auth, status: 200 });
/** Claims JSON text with extra raw members appended (for duplicate keys). */
const withMembers = (base: Record<string, unknown>, members: string): string => JSON.stringify(base).slice(0, -1) + "," + members + "}";
const without = (base: Record<string, unknown>, ...keys: string[]): Record<string, unknown> =>
  Object.fromEntries(Object.entries(base).filter(([k]) => !keys.includes(k)));

/** A different hex digit in first place (a fixed replacement would be a no-op one time in 16). */
const flipFirstHex = (hex: string): string => (hex.startsWith("f") ? "0" : "f") + hex.slice(1);

describe("attacks through every adapter", () => {
  it("alg: none, HS256 keyed with the public key, RS256, eddsa, missing", async () => {
    const rawPub = Buffer.from(fx.broker.publicKeyJwk.x, "base64url");
    const badAlg = (name: string, t: string): Case => deny(name, "/h/plain", bearer(t), "unsupported_alg");
    await run("alg and header", [
      badAlg("dev-broker token, alg none (signature kept)", fx.tokens.algNone!),
      badAlg("dev-broker token, alg HS256 (signature kept)", fx.tokens.algHS256!),
      badAlg("dev-broker token, alg RS256", fx.tokens.algRS256!),
      badAlg("dev-broker token, alg ES256", fx.tokens.algES256!),
      badAlg("dev-broker token, alg eddsa", fx.tokens.algLowercase!),
      badAlg("dev-broker token, alg missing", fx.tokens.algMissing!),
      deny("dev-broker token, alg none, unsigned", "/h/plain", tok("algNoneUnsigned"), "unsupported_alg"),
      deny("attacker, alg none, unsigned", "/h/plain", bearer(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`), "unsupported_alg"),
      badAlg("attacker, HS256 keyed with the public key PEM", m.hs256(claims, fx.broker.publicKeyPem)),
      badAlg("attacker, HS256 keyed with the raw public key bytes", m.hs256(claims, rawPub)),
      badAlg("attacker, HS256 keyed with the JWK x text", m.hs256(claims, fx.broker.publicKeyJwk.x)),
      badAlg("attacker, RS256 with its own RSA key", m.rs256(claims)),
      badAlg("broker key, alg eddsa", m.broker(claims, { alg: "eddsa" })),
      badAlg("attacker key, alg eddsa", m.forged(claims, { alg: "eddsa" })),
      badAlg("broker key, alg Ed25519", m.broker(claims, { alg: "Ed25519" })),
      badAlg("broker key, alg missing", m.broker(claims, { alg: undefined })),
      badAlg("broker key, alg null", m.broker(claims, { alg: null })),
      badAlg("broker key, alg [\"EdDSA\"]", m.broker(claims, { alg: ["EdDSA"] })),
      badAlg("broker key, alg \"EdDSA \"", m.broker(claims, { alg: "EdDSA " })),
      allow("control: broker key, alg EdDSA", "/h/plain", bearer(m.broker(claims))),
    ]);
  });

  it("kid swapped, empty, absent, not a string; unknown crit", async () => {
    await run("kid", [
      deny("another dev broker's token (its own kid)", "/h/plain", tok("otherKey"), "unknown_kid"),
      deny("dev-broker token, kid rewritten to the attacker's", "/h/plain", tok("kidRewritten"), "unknown_kid"),
      deny("broker key, attacker's kid", "/h/plain", bearer(m.broker(claims, { kid: m.attacker.kid })), "unknown_kid"),
      deny("attacker key, the broker's kid", "/h/plain", tok("attackerSigned"), "invalid_signature"),
      deny("attacker key, empty kid", "/h/plain", bearer(m.forged(claims, { kid: "" })), "invalid_signature"),
      deny("attacker key, no kid", "/h/plain", bearer(m.forged(claims, { kid: undefined })), "invalid_signature"),
      deny("broker key, kid 42", "/h/plain", bearer(m.broker(claims, { kid: 42 })), "malformed_token"),
      // The broker itself accepts an empty kid; the guard then tries only its configured keys.
      allow("broker key, no kid (configured keys only)", "/h/plain", bearer(m.broker(claims, { kid: undefined }))),
    ]);
    const crit = (name: string, t: string): Case => deny(name, "/h/plain", bearer(t), "unsupported_crit");
    await run("crit", [
      crit("fixture: crit [exp]", fx.tokens.crit!),
      crit("broker key, crit [x-unknown]", m.broker(claims, { crit: ["x-unknown"], "x-unknown": 1 })),
      crit("broker key, crit []", m.broker(claims, { crit: [] })),
      crit("broker key, crit [b64] with b64 false", m.broker(claims, { crit: ["b64"], b64: false })),
      crit("broker key, crit as a string", m.broker(claims, { crit: "x-unknown" })),
      crit("attacker key, crit [x-unknown]", m.forged(claims, { crit: ["x-unknown"] })),
    ]);
  });

  it("header or payload not a JSON object", async () => {
    const header = JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: m.kid });
    const body = JSON.stringify(claims);
    const bad: [string, string | Buffer][] = [
      ["array", "[]"],
      ["string", '"x"'],
      ["null", "null"],
      ["number", "42"],
      ["true", "true"],
      ["truncated object", "{\"alg\":\"EdDSA\""],
      ["not JSON", "not json"],
      ["empty", ""],
      ["byte-order mark before the object", "\ufeff{}"],
      ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ];
    const cases: Case[] = [];
    for (const [what, text] of bad) {
      cases.push(deny(`header ${what}`, "/h/plain", bearer(m.brokerRaw(text, body)), "malformed_token"));
      cases.push(deny(`payload ${what}`, "/h/plain", bearer(m.brokerRaw(header, text)), "malformed_token"));
    }
    // Regression (core fix, encoding.ts): TextDecoder strips a leading BOM by default, which let a
    // BOM-prefixed payload through although Go's decoder (the broker) refuses it.
    cases.push(deny("broker key, BOM before complete genuine claims (local)", "/l/plain", bearer(m.brokerRaw(header, "\ufeff" + body)), "malformed_token"));
    cases.push(deny("broker key, BOM before complete genuine claims (hybrid)", "/h/plain", bearer(m.brokerRaw(header, "\ufeff" + body)), "malformed_token"));
    cases.push(deny("broker key, BOM before a genuine header", "/h/plain", bearer(m.brokerRaw("\ufeff" + header, body)), "malformed_token"));
    // __proto__ is an own property after JSON.parse: no pollution, and no claim comes from it.
    cases.push(deny("payload with __proto__ carrying sub and scope, no sub of its own", "/h/plain",
      bearer(m.brokerRaw(header, JSON.stringify(without(claims, "sub")).slice(0, -1) + ',"__proto__":{"sub":"spiffe://agentwrit.local/agent/o/t/i","scope":["read:data:*"]}}')), "malformed_claims"));
    await run("JSON shape", cases);
    expect(({} as Record<string, unknown>).sub).toBeUndefined();
  });

  it("duplicate JSON keys: last wins, as in jose and Go; only a broker-signed token can carry them", async () => {
    const base = without(claims, "scope", "sub");
    const sub = String(claims.sub);
    const read = '"scope":["read:data:customer-42"]';
    const write = '"scope":["write:data:order-7"]';
    const readThenWrite = withMembers(base, `"sub":${JSON.stringify(sub)},${read},${write}`);
    const writeThenRead = withMembers(base, `"sub":${JSON.stringify(sub)},${write},${read}`);
    const agentThenAdmin = withMembers(without(claims, "sub"), `"sub":${JSON.stringify(sub)},"sub":"admin"`);
    const adminThenAgent = withMembers(without(claims, "sub"), `"sub":"admin","sub":${JSON.stringify(sub)}`);
    const now = Math.floor(Date.now() / 1000);
    const liveThenDead = withMembers(without(claims, "exp"), `"exp":${now + 300},"exp":${now - 3600}`);
    const deadThenLive = withMembers(without(claims, "exp"), `"exp":${now - 3600},"exp":${now + 300}`);
    // Go's decoder would also fill `scope` from "Scope"; JSON.parse keeps them apart. The guard
    // refuses claim names in another case in every mode, so it never reads a token unlike the broker.
    const caseVariant = withMembers(base, `"sub":${JSON.stringify(sub)},${read},"Scope":["admin:all:x"]`);
    const header = JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: m.kid });
    const b = (text: string) => bearer(m.brokerRaw(header, text));
    const f = (text: string) => bearer(signRaw(header, text, m.attacker.privateKey));
    await run("duplicate JSON keys", [
      deny("broker key, scope read then write: the last (write) is used", "/h/read42", b(readThenWrite), "insufficient_scope", 403),
      allow("broker key, scope read then write: write:data:order-7 holds", "/h/order7", b(readThenWrite)),
      allow("broker key, scope write then read: read holds", "/h/read42", b(writeThenRead)),
      deny("broker key, scope read then write, local mode agrees", "/l/read42", b(readThenWrite), "insufficient_scope", 403),
      deny("broker key, sub agent then admin: admin is used", "/h/plain", b(agentThenAdmin), "subject_not_agent"),
      allow("broker key, sub admin then agent: the agent is used (broker agrees)", "/h/plain", b(adminThenAgent)),
      deny("broker key, exp live then expired: expired", "/h/plain", b(liveThenDead), "token_expired"),
      allow("broker key, exp expired then live: live", "/h/plain", b(deadThenLive)),
      deny("broker key, scope and \"Scope\": refused in hybrid mode", "/h/read42", b(caseVariant), "malformed_claims"),
      deny("broker key, scope and \"Scope\": refused in broker mode before the broker is asked", "/b/read42", b(caseVariant), "malformed_claims"),
      deny("broker key, scope and \"Scope\": refused in local mode", "/l/read42", b(caseVariant), "malformed_claims"),
      deny("attacker re-signs duplicate scope", "/h/order7", f(readThenWrite), "invalid_signature"),
      deny("attacker re-signs duplicate sub", "/h/plain", f(adminThenAgent), "invalid_signature"),
    ]);
  });

  it("padded, non-canonical, whitespace-laden base64url; 2, 4 and 5 segments", async () => {
    const ok = fx.tokens.ok!;
    const [h, p, s] = ok.split(".") as [string, string, string];
    const last = s.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 64 bytes → 86 characters: the last one carries 4 unused bits, which must be zero.
    const nonCanonical = alphabet[alphabet.indexOf(last) + 1]!;
    // A broker-signed token whose base64url surely holds '-' or '_' ("?" and "~" runs encode to them).
    const urlish = Array.from({ length: 12 }, (_, k) => m.broker({ ...claims, pad: "?~".repeat(k + 3) })).find((t) => /[-_]/.test(t))!;
    const i = urlish.search(/[-_]/);
    const stdAlphabet = urlish.slice(0, i) + (urlish[i] === "-" ? "+" : "/") + urlish.slice(i + 1);
    const malformed = (name: string, t: string): Case => deny(name, "/h/plain", bearer(t), "malformed_token");
    const badAuth = (name: string, v: string): Case => deny(name, "/h/plain", v, "malformed_authorization");
    expect(i).toBeGreaterThan(0);
    await run("base64url and segments", [
      badAuth("padding inside (header=)", `Bearer ${h}=.${p}.${s}`),
      malformed("padding at the end (signature==)", `${ok}==`),
      malformed("padding at the end (signature=)", `${ok}=`),
      malformed("non-canonical last character of the signature", `${h}.${p}.${s.slice(0, -1)}${nonCanonical}`),
      malformed("standard alphabet (+ or /) instead of base64url", stdAlphabet),
      badAuth("space inside the token", `Bearer ${h}.${p} .${s}`),
      badAuth("tab inside the token", `Bearer ${h}.\t${p}.${s}`),
      badAuth("percent-encoded dot", `Bearer ${h}%2E${p}.${s}`),
      badAuth("two tokens", `Bearer ${ok} ${ok}`),
      badAuth("comma-joined tokens", `Bearer ${ok},${ok}`),
      allow("spaces and tabs around the token (the same token, trimmed)", "/h/plain", `  Bearer \t  ${ok}  \t`),
      malformed("2 segments", `${h}.${p}`),
      malformed("4 segments", `${ok}.${s}`),
      malformed("5 segments", `${ok}.${s}.${s}`),
      malformed("empty header segment", `.${p}.${s}`),
      malformed("empty payload segment", `${h}..${s}`),
      malformed("empty signature segment", `${h}.${p}.`),
      malformed("trailing dot", `${ok}.`),
      malformed("dots only", ".."),
      malformed("signature truncated by one character", ok.slice(0, -1)),
      malformed("signature of 63 bytes", `${h}.${p}.${Buffer.alloc(63).toString("base64url")}`),
    ]);
  });

  it("1 MiB tokens are refused before parsing, in far less time than a normal request", async () => {
    const tally = report.get("1 MiB tokens");
    const mib = "a".repeat(1 << 20);
    const shaped = `${fx.tokens.ok!.split(".")[0]!}.${"A".repeat(1 << 20)}.${fx.tokens.ok!.split(".")[2]!}`;
    // The guard alone, where nothing but its own work is measured.
    const timeIt = async (auth: string, n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let k = 0; k < n; k++) {
        const t0 = performance.now();
        await guards.local.authenticate(auth).catch(() => undefined);
        out.push(performance.now() - t0);
      }
      return out.sort((a, b) => a - b);
    };
    guards.local.clearCache();
    const normal = await timeIt(`Bearer ${m.broker({ ...claims, jti: "f".repeat(32) })}`, 1); // first verification: signature work
    const big = await timeIt(`Bearer ${shaped}`, 20);
    const median = big[10]!;
    const codes = await Promise.all([mib, shaped].map((t) => guards.local.authenticate(`Bearer ${t}`).then(() => "accepted", (e: { code: string }) => e.code)));
    expect(tally.check("guard: 1 MiB refused as token_too_large", codes.every((c) => c === "token_too_large"))).toBe(true);
    expect(tally.check("guard: 1 MiB refusal < 50 ms", median < 50)).toBe(true);
    tally.figure("guard refusal p50", `${median.toFixed(3)} ms`);
    tally.figure("first genuine verification", `${normal[0]!.toFixed(2)} ms`);
    // Through the adapters. Node's HTTP parser (Express over supertest, a real socket) refuses
    // headers over 16 KiB with 431 before the app runs; inject and app.request reach the guard.
    const tooBig = { status: 401, code: "token_too_large" } as const;
    const node431 = { express: { status: 431 } } as const;
    const started = performance.now();
    await run("1 MiB tokens", [
      { name: "1 MiB of 'a'", path: "/h/plain", auth: `Bearer ${mib}`, ...tooBig, byAdapter: node431 },
      { name: "1 MiB three-segment token", path: "/h/plain", auth: `Bearer ${shaped}`, ...tooBig, byAdapter: node431 },
      { name: "16385-byte token (one over the default cap)", path: "/h/plain", auth: `Bearer ${"a".repeat(16385)}`, ...tooBig, byAdapter: node431 },
      { name: "16000-byte garbage token (under the cap: parsed, refused)", path: "/h/plain", auth: `Bearer ${"a".repeat(16000)}`, status: 401, code: "malformed_token" },
    ]);
    const perRequest = (performance.now() - started) / 12;
    tally.figure("through adapters, mean per request", `${perRequest.toFixed(1)} ms`);
    expect(tally.check("adapters: mean < 50 ms", perRequest < 50)).toBe(true);
  });

  it("a token in the query string, a cookie or another header is never accepted: 401 bare challenge", async () => {
    const ok = fx.tokens.ok!;
    const missing = (name: string, path: string, headers: Record<string, string> = {}): Case => ({
      name, path, auth: undefined, headers, status: 401, code: "missing_token", challenge: BARE,
    });
    await run("token outside the Authorization header", [
      missing("?access_token=", `/h/plain?access_token=${ok}`),
      missing("?token=", `/h/plain?token=${ok}`),
      missing("?authorization=Bearer", `/h/plain?authorization=${encodeURIComponent("Bearer " + ok)}`),
      missing("cookie access_token", "/h/plain", { cookie: `access_token=${ok}` }),
      missing("cookie token and Authorization", "/h/plain", { cookie: `token=${ok}; Authorization=Bearer%20${ok}` }),
      missing("Proxy-Authorization", "/h/plain", { "proxy-authorization": `Bearer ${ok}` }),
      missing("X-Access-Token", "/h/plain", { "x-access-token": ok }),
      missing("X-Forwarded-Authorization", "/h/plain", { "x-forwarded-authorization": `Bearer ${ok}` }),
      missing("query and cookie together", `/h/read42?access_token=${ok}`, { cookie: `access_token=${ok}` }),
    ]);
  });

  it("scope as a string, with invalid entries, with 10,000 entries", async () => {
    const bad = (name: string, scope: unknown): Case =>
      deny(name, "/h/plain", bearer(m.broker(scope === undefined ? without(claims, "scope") : { ...claims, scope })), "malformed_claims");
    const many = Array.from({ length: 10_000 }, (_, k) => `read:data:customer-${k + 1000}`);
    const tenK = m.broker({ ...claims, scope: many });
    const tenKWithMatch = m.broker({ ...claims, scope: [...many, "read:data:customer-42"] });
    const tenKInvalid = m.broker({ ...claims, scope: Array.from({ length: 10_000 }, () => "read:data") });
    const node431 = { express: { status: 431 } } as const;
    const t0 = performance.now();
    await run("scope claim", [
      deny("fixture: scope a string", "/h/plain", tok("malformedClaims"), "malformed_claims"),
      bad("scope a space-delimited string (OAuth style)", "read:data:customer-42 write:data:order-7"),
      bad("scope missing", undefined),
      bad("scope null", null),
      bad("scope an object", { "read:data:customer-42": true }),
      bad("entry with two parts", ["read:data"]),
      bad("empty entry", [""]),
      bad("entry '::'", ["::"]),
      bad("number entry", [42]),
      bad("null entry", [null]),
      bad("nested list", [["read:data:customer-42"]]),
      bad("one invalid among valid", ["read:data:customer-42", "write::x"]),
      { ...deny("10,000 entries, default cap", "/h/plain", bearer(tenK), "token_too_large"), byAdapter: node431 },
      { ...deny("10,000 entries, 1 MiB cap, none matches", "/big/read42", bearer(tenK), "insufficient_scope", 403), byAdapter: node431 },
      { ...allow("10,000 entries, 1 MiB cap, the last matches", "/big/read42", bearer(tenKWithMatch)), byAdapter: node431 },
      { ...deny("10,000 entries, 1 MiB cap, other requirement", "/big/x", bearer(tenKWithMatch), "insufficient_scope", 403), byAdapter: node431 },
      { ...deny("10,000 invalid entries, 1 MiB cap", "/big/read42", bearer(tenKInvalid), "malformed_claims"), byAdapter: node431 },
    ]);
    report.get("scope claim").figure("wall time for the category", `${(performance.now() - t0).toFixed(0)} ms`);
  });

  it("non-agent subjects, wrong audience, issuer and trust domain; valid at the broker but for another audience", async () => {
    const sub = (name: string, s: unknown, code = "subject_not_agent"): Case => deny(name, "/h/plain", bearer(m.broker({ ...claims, sub: s })), code);
    const wrongAud = fx.tokens.wrongAudience!;
    const res = await fetch(fx.broker.url + "/v1/token/validate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: wrongAud }) });
    const verdict = (await res.json()) as { valid: boolean };
    // The premise: the broker's validate endpoint ignores `aud`, so it calls this token valid.
    expect(report.get("subjects, audience, issuer").check("broker says valid:true for the other audience's token", verdict.valid)).toBe(true);
    await run("subjects, audience, issuer", [
      deny("dev-broker admin token", "/h/plain", tok("admin"), "subject_not_agent"),
      deny("dev-broker app token", "/h/plain", tok("app"), "subject_not_agent"),
      deny("dev-broker admin token, broker mode", "/b/plain", tok("admin"), "subject_not_agent"),
      sub("sub 'admin'", "admin"),
      sub("sub 'app:x'", "app:x"),
      sub("sub spiffe, not an agent path", "spiffe://agentwrit.local/notagent/orch/task/i"),
      sub("sub spiffe agent with nothing after /agent/", "spiffe://agentwrit.local/agent/"),
      sub("sub an https URL", "https://agentwrit.local/agent/o/t/i"),
      sub("sub empty", "", "malformed_claims"),
      sub("sub a number", 42, "malformed_claims"),
      sub("sub another trust domain", "spiffe://rogue.local/agent/o/t/i", "trust_domain_mismatch"),
      deny("dev-broker token for another audience (hybrid)", "/h/plain", bearer(wrongAud), "audience_mismatch"),
      deny("dev-broker token for another audience (broker mode)", "/b/plain", bearer(wrongAud), "audience_mismatch"),
      deny("dev-broker token with no audience", "/h/plain", tok("noAudience"), "audience_mismatch"),
      deny("aud a string, not a list", "/h/plain", bearer(m.broker({ ...claims, aud: AUDIENCE })), "malformed_claims"),
      deny("aud an empty list", "/h/plain", bearer(m.broker({ ...claims, aud: [] })), "audience_mismatch"),
      deny("dev-broker token, wrong issuer", "/h/plain", tok("wrongIssuer"), "issuer_mismatch"),
      deny("dev-broker token, wrong issuer (broker mode)", "/b/plain", tok("wrongIssuer"), "issuer_mismatch"),
      deny("iss a number", "/h/plain", bearer(m.broker({ ...claims, iss: 42 })), "malformed_claims"),
      deny("dev-broker token, wrong trust domain", "/h/plain", tok("wrongTrustDomain"), "trust_domain_mismatch"),
    ]);
  });

  it("clock tolerance edges (5 s) with a pinned clock", async () => {
    const fixed = Math.floor(Date.now() / 1000);
    const at = (c: Record<string, unknown>) => bearer(m.broker({ ...claims, iat: fixed - 100, nbf: fixed - 100, exp: fixed + 100, ...c }));
    const cases: Case[] = [
      allow("exp = now - 5 (tolerance)", "/c/plain", at({ exp: fixed - 5 })),
      deny("exp = now - 6", "/c/plain", at({ exp: fixed - 6 }), "token_expired"),
      allow("exp = now", "/c/plain", at({ exp: fixed })),
      allow("nbf = now + 5 (tolerance)", "/c/plain", at({ nbf: fixed + 5, iat: fixed + 5 })),
      deny("nbf = now + 6", "/c/plain", at({ nbf: fixed + 6, iat: fixed + 6 }), "token_not_yet_valid"),
      allow("nbf = 0 (unset, as Go treats it)", "/c/plain", at({ nbf: 0 })),
      deny("exp = 0", "/c/plain", at({ exp: 0 }), "malformed_claims"),
      deny("exp a float", "/c/plain", at({ exp: fixed + 0.5 }), "malformed_claims"),
      deny("exp a string", "/c/plain", at({ exp: String(fixed + 100) }), "malformed_claims"),
      deny("exp beyond 2^53", "/c/plain", at({ exp: 2 ** 53 + 2 }), "malformed_claims"),
      deny("dev broker an hour behind: expired", "/h/plain", tok("expired"), "token_expired"),
      deny("dev broker an hour ahead: not yet valid", "/h/plain", tok("notYetValid"), "token_not_yet_valid"),
    ];
    // The last millisecond of the pinned second: the guard must floor, not round.
    const spy = vi.spyOn(Date, "now").mockReturnValue(fixed * 1000 + 999);
    try {
      await run("clock tolerance edges", cases);
    } finally {
      spy.mockRestore();
    }
  });

  it("template values through real route params: *, %2A, empty, a/b, .., unicode", async () => {
    const ok = tok("ok");
    const h = bearer(holder);
    const invalid = (name: string, path: string, auth = ok): Case => deny(name, path, auth, "invalid_parameter", 400);
    await run("template values", [
      invalid("*", "/h/tpl/*"),
      invalid("%2A", "/h/tpl/%2A"),
      invalid("%2a (lowercase hex)", "/h/tpl/%2a"),
      invalid("*, by a token holding read:data:*-like scopes", "/h/tpl/*", h),
      invalid("empty (optional param absent)", "/h/opt"),
      invalid("%252A (double-encoded: decodes once, to %2A)", "/h/tpl/%252A"),
      invalid("%00", "/h/tpl/%00"),
      invalid("%0A", "/h/tpl/%0A"),
      invalid("trailing space", "/h/tpl/42%20"),
      invalid("braces", "/h/tpl/%7Bid%7D"),
      invalid("%25 (a literal %)", "/h/tpl/%25"),
      { ...invalid("empty segment", "/h/tpl/"), byAdapter: { express: { status: 404 }, hono: { status: 404 } } },
      deny("a%2Fb bound as 'a/b', not held", "/h/tpl/a%2Fb", ok, "insufficient_scope", 403),
      allow("a%2Fb bound as 'a/b', held exactly", "/h/tpl/a%2Fb", h),
      { name: "a/b unencoded: another route", path: "/h/tpl/a/b", auth: h, status: 404 },
      // Express keeps '..' as a value; Fastify and Hono normalise the path first. Never a wider scope.
      { ...deny("'..' not held", "/h/tpl/..", ok, "insufficient_scope", 403), byAdapter: { fastify: { status: 404 }, hono: { status: 404 } } },
      { ...allow("'..' held exactly", "/h/tpl/%2E%2E", h), byAdapter: { fastify: { status: 404 }, hono: { status: 404 } } },
      deny("é not held", "/h/tpl/%C3%A9", ok, "insufficient_scope", 403),
      allow("é (NFC) held exactly", "/h/tpl/%C3%A9", h),
      deny("é as e + combining accent (NFD): no normalisation", "/h/tpl/e%CC%81", h, "insufficient_scope", 403),
      allow("right-to-left override + 42 held exactly", "/h/tpl/%E2%80%AE42", h),
      deny("right-to-left override + 42 is not 42", "/h/tpl/%E2%80%AE42", ok, "insufficient_scope", 403),
      deny("fullwidth digits are not 42", "/h/tpl/%EF%BC%94%EF%BC%92", ok, "insufficient_scope", 403),
      deny("42,43", "/h/tpl/42,43", ok, "insufficient_scope", 403),
      deny("42:x (colon in the value)", "/h/tpl/42:x", ok, "insufficient_scope", 403),
      allow("control: 42 held", "/h/tpl/42", ok),
    ]);
  });

  it("delegation: deeper than the limit, widening, forged records, tampered chain_hash", async () => {
    const root = String(claims.sub);
    const scope = ["read:data:customer-42", "write:data:order-7"];
    const chainOf = (n: number) => Array.from({ length: n }, (_, k) => m.record(`spiffe://agentwrit.local/agent/orch-1/task-1/${String(k).padStart(16, "0")}`, scope));
    const token = async (chain: ReturnType<typeof chainOf>, extra: Record<string, unknown> = {}) =>
      bearer(m.broker({ ...claims, scope: ["read:data:customer-42"], delegation_chain: chain, chain_hash: await m.chainHash(chain), ...extra }));
    const widening = [m.record(root, ["read:data:customer-42"]), m.record(root, scope)];
    const delegated = payloadOf(fx.tokens.delegated!);
    const goodChain = delegated.delegation_chain as ReturnType<typeof chainOf>;
    const badSig = goodChain.map((r) => ({ ...r, signature: "zz".repeat(64) }));
    const noSig = goodChain.map((r) => ({ agent: r.agent, scope: r.scope, delegated_at: r.delegated_at }));
    const tamperedScope = goodChain.map((r) => ({ ...r, scope: [...r.scope, "admin:all:*"] }));
    await run("delegation", [
      deny("dev broker: depth 2 > limit 1", "/h/plain", tok("tooDeep"), "delegation_too_deep"),
      allow("control: dev broker depth 1", "/h/plain", tok("delegated")),
      deny("broker key: depth 6 > default limit 5", "/d/plain", await token(chainOf(6)), "delegation_too_deep"),
      allow("control: broker key depth 5, default limit", "/d/plain", await token(chainOf(5))),
      deny("fixture: token wider than its delegator", "/h/plain", tok("widened"), "delegation_widened"),
      deny("broker key: record 2 wider than record 1", "/d/plain", await token(widening), "delegation_widened"),
      deny("fixture: record signed by another key", "/h/plain", tok("forgedRecord"), "delegation_signature_invalid"),
      deny("record signature not hex", "/h/plain", bearer(m.broker({ ...delegated, delegation_chain: badSig, chain_hash: await m.chainHash(badSig) })), "delegation_signature_invalid"),
      deny("record without a signature", "/h/plain", bearer(m.broker({ ...delegated, delegation_chain: noSig, chain_hash: await m.chainHash(noSig) })), "delegation_signature_invalid"),
      deny("record scope widened after signing", "/h/plain", bearer(m.broker({ ...delegated, delegation_chain: tamperedScope, chain_hash: await m.chainHash(tamperedScope) })), "delegation_signature_invalid"),
      deny("fixture: chain_hash of zeros", "/h/plain", tok("badChainHash"), "chain_hash_mismatch"),
      deny("dev-broker delegated token, chain_hash flipped, re-signed", "/h/plain", bearer(m.broker({ ...delegated, chain_hash: flipFirstHex(String(delegated.chain_hash)) })), "chain_hash_mismatch"),
      deny("dev-broker delegated token, chain_hash in upper case, re-signed", "/h/plain", bearer(m.broker({ ...delegated, chain_hash: String(delegated.chain_hash).toUpperCase() })), "chain_hash_mismatch"),
      deny("dev-broker delegated token, chain_hash removed, re-signed", "/h/plain", bearer(m.broker(without(delegated, "chain_hash"))), "chain_hash_mismatch"),
      deny("attacker re-signs a delegated token", "/h/plain", bearer(m.forged(delegated)), "invalid_signature"),
      // Documented: broker mode without the broker key cannot check record signatures or chain_hash
      // (the broker never does); only a broker-key holder can produce such a token.
      allow("documented limit: forged record in broker mode (no key)", "/b/plain", tok("forgedRecord")),
    ]);
  });

  it("released, renewed-away and revoked (token, agent, task, chain) in broker and hybrid modes", async () => {
    const names = ["released", "renewed", "revokedToken", "revokedAgent", "revokedTask", "revokedChain"];
    const cases: Case[] = [];
    for (const n of names) {
      cases.push(deny(`${n} (hybrid)`, "/h/plain", tok(n), "token_inactive"));
      cases.push(deny(`${n} (broker mode)`, "/b/plain", tok(n), "token_inactive"));
      cases.push(deny(`${n} again, from the remembered verdict (hybrid)`, "/h/plain", tok(n), "token_inactive"));
    }
    await run("revocation", cases);
    // Documented in SECURITY.md: local mode cannot see revocation.
    await run("documented limits", names.map((n) => allow(`${n} accepted in local mode`, "/l/plain", tok(n))));
  });

  it("several Authorization headers over raw HTTP, on a real loopback listener per adapter", async () => {
    const tally = report.get("several Authorization headers (raw HTTP)");
    const ok = bearer(fx.tokens.ok);
    const routes: RouteSpec[] = [{ path: "/h/plain", guard: guards.hybrid }];
    // Node keeps only the first Authorization in req.headers; every adapter reads them all
    // (rawHeaders), so the guard sees them joined and refuses the ambiguous request.
    const MA = "malformed_authorization";
    const sets: [string, [string, string][], number, string | undefined][] = [
      ["control: one header", [["Authorization", ok]], 200, undefined],
      ["two identical valid headers", [["Authorization", ok], ["Authorization", ok]], 401, MA],
      ["valid then garbage", [["Authorization", ok], ["Authorization", "Bearer x"]], 401, MA],
      ["garbage then valid", [["Authorization", "Bearer x"], ["Authorization", ok]], 401, MA],
      ["lowercase and uppercase names", [["authorization", ok], ["AUTHORIZATION", ok]], 401, MA],
      ["valid then empty", [["Authorization", ok], ["Authorization", ""]], 401, MA],
      ["Basic then Bearer (several credentials, whatever the first scheme)", [["Authorization", "Basic YTpi"], ["Authorization", ok]], 401, MA],
      ["Bearer then Basic", [["Authorization", ok], ["Authorization", "Basic YTpi"]], 401, MA],
      ["three headers", [["Authorization", ok], ["Authorization", ok], ["Authorization", ok]], 401, MA],
    ];
    const misses: string[] = [];
    for (const name of ["express", "fastify", "hono"] as const) {
      const server = await listen(name, routes);
      try {
        for (const [label, headers, want, code] of sets) {
          const { status, body } = await rawGet(server.port, "/h/plain", headers);
          const good = status === want && (code === undefined || body.includes(`"code":"${code}"`));
          if (!tally.check(`${name}: ${label}`, good)) misses.push(`${name}: ${label}: got ${status}`);
        }
      } finally {
        await server.close();
      }
    }
    expect(misses).toEqual([]);
  });
});

/** A GET written byte by byte on a socket, so header names and repeats are exactly as given. */
function rawGet(port: number, path: string, headers: readonly [string, string][]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error("raw request timed out")));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "0");
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
    const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...headers.map(([k, v]) => `${k}: ${v}`), "Connection: close", "", ""];
    socket.write(lines.join("\r\n"));
  });
}
