/** A.2, A.3, B.6 and D.1: token format, verification rules (through /v1/token/validate), TTL rules. */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { b64url, call, decodePayload, decodeSegment, expectProblem, forge, RFC8037_KID, RFC8037_PRIVATE_PEM, rfc8037Key, TestClock } from "./helpers.js";

const NOW = 1_900_000_000;
const clock = new TestClock(NOW);
let broker: DevBroker;
const key = rfc8037Key();
const HEADER = `{"alg":"EdDSA","typ":"JWT","kid":"${RFC8037_KID}"}`;

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: "", sub: "spiffe://agentwrit.local/agent/o/t/0011223344556677", exp: NOW + 60, nbf: NOW, iat: NOW, jti: "ab".repeat(16), scope: ["read:data:*"], task_id: "t", orch_id: "o", ...extra };
}

async function valid(token: string): Promise<boolean> {
  const r = await call(broker, "POST", "/v1/token/validate", { body: { token } });
  expect(r.status).toBe(200);
  if (r.json.valid === false) expect(r.json).toEqual({ valid: false, error: "token is invalid or expired" });
  return r.json.valid as boolean;
}

beforeAll(async () => {
  broker = await startDevBroker({ signingKey: RFC8037_PRIVATE_PEM, now: clock.now });
});
afterAll(() => broker.close());

describe("issued tokens (A.2, B.6)", () => {
  it("agent token: exact header, claim order and types, iss always present, no aud by default", async () => {
    const a = await broker.createAgent({ orchId: "orch-9", taskId: "task-9", scope: ["read:data:x", "write:data:*"], ttl: 120 });
    const [h, p] = a.accessToken.split(".");
    expect(Buffer.from(h!, "base64url").toString()).toBe(HEADER);
    const payloadText = Buffer.from(p!, "base64url").toString();
    const c = JSON.parse(payloadText);
    expect(Object.keys(c)).toEqual(["iss", "sub", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id"]);
    expect(c.iss).toBe("");
    expect(c.sub).toMatch(/^spiffe:\/\/agentwrit\.local\/agent\/orch-9\/task-9\/[0-9a-f]{16}$/);
    expect(c.sub).toBe(a.agentId);
    expect(c.jti).toMatch(/^[0-9a-f]{32}$/);
    expect(c.iat).toBe(NOW);
    expect(c.nbf).toBe(c.iat);
    expect(c.exp).toBe(NOW + 120);
    expect(a.expiresIn).toBe(120);
    expect(c.scope).toEqual(["read:data:x", "write:data:*"]);
    expect(payloadText).not.toMatch(/\s/);
    expect(a.accessToken).not.toContain("=");
  });

  it("validate re-serialises the claims in the same shape (D.1.1)", async () => {
    const a = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    const r = await call(broker, "POST", "/v1/token/validate", { body: { token: a.accessToken } });
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.json.valid).toBe(true);
    expect(r.json.claims).toEqual(decodePayload(a.accessToken));
    expect(Object.keys(r.json)).toEqual(["valid", "claims"]);
    expect(a.expiresIn).toBe(300);
  });

  it("issuer and audience are emitted when configured; aud is an array", async () => {
    const b = await startDevBroker({ issuer: "https://broker.test", audience: "svc-a" });
    try {
      const a = await b.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
      const c = decodePayload(a.accessToken);
      expect(c.iss).toBe("https://broker.test");
      expect(c.aud).toEqual(["svc-a"]);
      expect(Object.keys(c).slice(0, 3)).toEqual(["iss", "sub", "aud"]);
    } finally {
      await b.close();
    }
  });

  it("MaxTTL clamps launch-token max_ttl; 0 disables the cap (D.16)", async () => {
    const b = await startDevBroker({ maxTtl: 3600 });
    const c = await startDevBroker({ maxTtl: 0 });
    try {
      expect((await b.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"], ttl: 7200 })).expiresIn).toBe(3600);
      expect((await b.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"], ttl: 1800 })).expiresIn).toBe(1800);
      expect((await c.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"], ttl: 86400 * 3 })).expiresIn).toBe(86400 * 3);
    } finally {
      await Promise.all([b.close(), c.close()]);
    }
  });
});

describe("no limit on the number of scopes (Appendix 3)", () => {
  it("250 scopes make a ~9 KB agent token that registers, validates and passes the Bearer routes", async () => {
    const b = await startDevBroker();
    try {
      const scope = Array.from({ length: 250 }, (_, i) => `read:data:customer-${String(i).padStart(4, "0")}`);
      const a = await b.createAgent({ orchId: "o", taskId: "t", scope });
      expect(a.accessToken.length).toBeGreaterThan(8 * 1024); // above an 8 KiB cap
      expect(decodePayload(a.accessToken).scope).toEqual(scope);
      const v = await call(b, "POST", "/v1/token/validate", { body: { token: a.accessToken } });
      expect(v.json).toMatchObject({ valid: true, claims: { scope } });
      expect((await call(b, "POST", "/v1/token/renew", { token: a.accessToken })).status).toBe(200);
    } finally {
      await b.close();
    }
  });
});

describe("verification (A.3, D.1) through POST /v1/token/validate", () => {
  it("a forged-by-test but broker-key-signed token is valid (sanity)", async () => {
    expect(await valid(forge(key, HEADER, JSON.stringify(claims())))).toBe(true);
  });

  it("flipped signature bit, flipped payload byte, other key → invalid (D.2–4)", async () => {
    const t = forge(key, HEADER, JSON.stringify(claims()));
    const [h, p, s] = t.split(".");
    const sig = Buffer.from(s!, "base64url");
    sig[5] = sig[5]! ^ 1;
    expect(await valid(`${h}.${p}.${b64url(sig)}`)).toBe(false);
    const pay = Buffer.from(p!, "base64url");
    pay[10] = pay[10]! ^ 1;
    expect(await valid(`${h}.${b64url(pay)}.${s}`)).toBe(false);
    const other = generateKeyPairSync("ed25519").privateKey;
    expect(await valid(forge(other, HEADER, JSON.stringify(claims())))).toBe(false);
    expect(await valid(forge(other, '{"alg":"EdDSA","typ":"JWT"}', JSON.stringify(claims())))).toBe(false);
  });

  it("expired, exp == now still valid, nbf in the future, exp = 0 (D.5, D.6, D.12)", async () => {
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ exp: NOW - 1 }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ exp: NOW }))))).toBe(true);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ nbf: NOW + 600 }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ nbf: 0 }))))).toBe(true);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ exp: 0 }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ sub: "" }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ jti: "" }))))).toBe(false);
  });

  it("malformed tokens (D.7): single part, four segments, padding", async () => {
    expect(await valid("single-part")).toBe(false);
    expect(await valid("not.a.valid.token")).toBe(false);
    const t = forge(key, HEADER, JSON.stringify(claims()));
    expect(await valid(t + ".extra")).toBe(false);
    const [h, p, s] = t.split(".");
    expect(await valid(`${h}=.${p}.${s}`)).toBe(false);
    expect(await valid(`${h}.${p}.${s}==`)).toBe(false);
  });

  it("alg must be exactly EdDSA, before any signature work (D.8)", async () => {
    for (const alg of ["HS256", "none", "eddsa", "ES256"]) {
      expect(await valid(forge(key, `{"alg":"${alg}","typ":"JWT","kid":"${RFC8037_KID}"}`, JSON.stringify(claims()))), alg).toBe(false);
    }
    expect(await valid(forge(key, `{"typ":"JWT","kid":"${RFC8037_KID}"}`, JSON.stringify(claims())))).toBe(false);
    const none = b64url('{"alg":"none"}') + "." + b64url(JSON.stringify(claims())) + ".";
    expect(await valid(none)).toBe(false);
  });

  it("kid: wrong → invalid; missing or empty → accepted; typ and crit ignored (D.9, D.10)", async () => {
    expect(await valid(forge(key, '{"alg":"EdDSA","typ":"JWT","kid":"wrong-kid-value"}', JSON.stringify(claims())))).toBe(false);
    expect(await valid(forge(key, '{"alg":"EdDSA","typ":"JWT"}', JSON.stringify(claims())))).toBe(true);
    expect(await valid(forge(key, '{"alg":"EdDSA","kid":""}', JSON.stringify(claims())))).toBe(true);
    expect(await valid(forge(key, '{"alg":"EdDSA","typ":"xyz","crit":["foo"],"foo":1}', JSON.stringify(claims())))).toBe(true);
  });

  it("string aud, string scope, fractional exp → invalid; extra claims are dropped by validate", async () => {
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ aud: "svc" }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ scope: "read:data:*" }))))).toBe(false);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims({ exp: NOW + 0.5 }))))).toBe(false);
    const r = await call(broker, "POST", "/v1/token/validate", { body: { token: forge(key, HEADER, JSON.stringify(claims({ extra: "x", aud: ["a"] }))) } });
    expect(r.json.claims.extra).toBeUndefined();
    expect(r.json.claims.aud).toEqual(["a"]);
  });

  it("integers are read from their literal text as Go does: exp as 1.90000006e9 or 1900000060.0 → invalid; -0 is 0 (Appendix 3)", async () => {
    const text = (exp: string, nbf = String(NOW)): string => JSON.stringify(claims()).replace(`"exp":${String(NOW + 60)}`, `"exp":${exp}`).replace(`"nbf":${String(NOW)}`, `"nbf":${nbf}`);
    expect(await valid(forge(key, HEADER, text(String(NOW + 60))))).toBe(true);
    expect(await valid(forge(key, HEADER, text("1.90000006e9")))).toBe(false);
    expect(await valid(forge(key, HEADER, text("1900000060.0")))).toBe(false);
    expect(await valid(forge(key, HEADER, text("1900000060E0")))).toBe(false);
    expect(await valid(forge(key, HEADER, text(String(NOW + 60), "-0")))).toBe(true);
  });

  it("claim and header keys fold as Go's decoder folds them (ALG, SUB, U+017F long s, U+212A Kelvin sign); a later duplicate wins", async () => {
    const p = (o: Record<string, unknown>): string => JSON.stringify(o);
    const { sub, scope, ...rest } = claims();
    expect(await valid(forge(key, `{"ALG":"EdDSA","Kid":"${RFC8037_KID}"}`, p({ ...rest, SUB: sub, "\u017fcope": scope })))).toBe(true);
    const r = await call(broker, "POST", "/v1/token/validate", { body: { token: forge(key, HEADER, p({ ...rest, sub, "\u017fcope": scope, "tas\u212a_id": "kelvin" })) } });
    expect(r.json.claims.scope).toEqual(scope);
    expect(r.json.claims.task_id).toBe("kelvin");
    // Duplicates: Go applies keys in order, so the last one wins, whatever its case.
    const dup = `{"sub":"first",${p(rest).slice(1, -1)},"scope":["a:b:c"],"SUB":"${String(sub)}"}`;
    const d = await call(broker, "POST", "/v1/token/validate", { body: { token: forge(key, HEADER, dup) } });
    expect(d.json.claims.sub).toBe(sub);
    // null leaves a string claim as it was (Go), rather than emptying it.
    const withNull = `{${p(rest).slice(1, -1)},"sub":"${String(sub)}","Sub":null,"scope":["a:b:c"]}`;
    expect(await valid(forge(key, HEADER, withNull))).toBe(true);
  });

  it("a header or payload nested deeper than Go's limit (10,000) is invalid", async () => {
    const deep = (n: number): string => "[".repeat(n) + "]".repeat(n);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims()).replace(/}$/, `,"x":${deep(9999)}}`)))).toBe(true);
    expect(await valid(forge(key, HEADER, JSON.stringify(claims()).replace(/}$/, `,"x":${deep(10000)}}`)))).toBe(false);
    expect(await valid(forge(key, HEADER.replace(/}$/, `,"x":${deep(10000)}}`), JSON.stringify(claims())))).toBe(false);
  });

  it("a non-canonical last signature character (unused low bits) is accepted, as Go does (A.3.3)", async () => {
    const t = forge(key, HEADER, JSON.stringify(claims()));
    const last = t.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const idx = alphabet.indexOf(last);
    // 64 bytes → 86 chars; the last carries 2 significant bits and 4 unused ones.
    const twin = alphabet[(idx & 0b110000) | ((idx + 1) & 0b001111)]!;
    expect(twin).not.toBe(last);
    expect(await valid(t.slice(0, -1) + twin)).toBe(true);
  });

  it("issuer: when configured, a different iss is invalid", async () => {
    const b = await startDevBroker({ signingKey: RFC8037_PRIVATE_PEM, issuer: "iss-a", now: clock.now });
    try {
      const ok = await call(b, "POST", "/v1/token/validate", { body: { token: forge(key, HEADER, JSON.stringify(claims({ iss: "iss-a" }))) } });
      expect(ok.json.valid).toBe(true);
      for (const iss of ["", "iss-b"]) {
        const bad = await call(b, "POST", "/v1/token/validate", { body: { token: forge(key, HEADER, JSON.stringify(claims({ iss }))) } });
        expect(bad.json.valid).toBe(false);
      }
    } finally {
      await b.close();
    }
  });

  it("validate accepts admin and app tokens and ignores the audience (A.4.1)", async () => {
    const b = await startDevBroker({ audience: "svc-a" });
    try {
      const admin = await call(b, "POST", "/v1/admin/auth", { body: { secret: b.adminSecret } });
      expect(decodePayload(admin.json.access_token).aud).toEqual(["svc-a"]);
      const r = await call(b, "POST", "/v1/token/validate", { body: { token: admin.json.access_token } });
      expect(r.json.valid).toBe(true);
      expect(r.json.claims.sub).toBe("admin");
      const wrongAud = await b.createAgent({ orchId: "o", taskId: "t", scope: ["a:b:c"] });
      expect((await call(b, "POST", "/v1/token/validate", { body: { token: wrongAud.accessToken } })).json.valid).toBe(true);
    } finally {
      await b.close();
    }
  });

  it("validate's 400s; counts calls in stats.validateCalls", async () => {
    broker.resetStats();
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: { token: "" } }), 400, "invalid_request", "token field is required");
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: {} }), 400, "invalid_request", "token field is required");
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: { token: 1 } }), 400, "invalid_request", "malformed JSON body");
    await valid("x");
    expect(broker.stats.validateCalls).toBe(4);
  });

  it("header segment JSON in exact Go order", () => {
    const t = forge(key, HEADER, "{}");
    expect(decodeSegment(t.split(".")[0]!)).toEqual({ alg: "EdDSA", typ: "JWT", kid: RFC8037_KID });
  });
});
