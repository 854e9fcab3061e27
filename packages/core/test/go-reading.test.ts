/**
 * The guard reads a token exactly as the broker's Go decoder does, or refuses it (protocol
 * Appendix 3): keys equal under Go's folding, integers written as floats or exponents, several
 * Authorization credentials, and genuine tokens as large as the broker issues.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizationFromRawHeaders, createGuard, type GuardErrorCode } from "../src/index.js";
import { json, payloadOf, startFakeBroker, type FakeBroker } from "./support/fake-broker.js";
import { b64url, bearer, claims, makeKey, mint, nowSec, signJws } from "./support/tokens.js";

const key = makeKey();
let broker: FakeBroker;

beforeAll(async () => {
  broker = await startFakeBroker((_req, res, token) => json(res, 200, { valid: true, claims: payloadOf(token ?? "") }));
});
afterAll(async () => {
  await broker.close();
});

/** Signs raw payload JSON text (so that number spellings survive). */
function mintText(payloadText: string, header: Record<string, unknown> = { alg: "EdDSA", typ: "JWT", kid: key.kid }): string {
  return signJws(header, payloadText, key.privateKey);
}

async function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "accepted",
    (e: { code: GuardErrorCode; reason?: string }) => e.code,
  );
}

const modes = () => [
  createGuard({ publicKey: key.jwk }),
  createGuard({ brokerUrl: broker.url }),
  createGuard({ publicKey: key.jwk, brokerUrl: broker.url }),
];

describe("claim names Go would read into a claim under another spelling are refused in every mode", () => {
  // U+017F (long s) folds to S, U+212A (Kelvin sign) to K, U+0130 and U+0131 to I.
  const variants: [string, Record<string, unknown>][] = [
    ["ſcope (U+017F)", { ſcope: ["admin:data:*"] }],
    ["ſub (U+017F)", { ſub: "spiffe://agentwrit.local/agent/x/y/z" }],
    ["ıss (U+0131)", { ıss: "https://other.example" }],
    ["İat (U+0130)", { İat: 1 }],
    ["tas\u212A_id (Kelvin sign)", { "tas\u212A_id": "other-task" }],
    ["SCOPE (ASCII case)", { SCOPE: ["admin:data:*"] }],
    ["Exp (ASCII case)", { Exp: nowSec() + 999_999 }],
  ];
  it.each(variants)("%s", async (_name, extra) => {
    const token = await mint(key, { ...claims(), ...extra });
    for (const guard of modes()) {
      const err = await guard.authenticate(bearer(token)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "malformed_claims", status: 401 });
      expect((err as { reason: string }).reason).toMatch(/would be read as "\w+" by the broker's Go decoder/);
    }
  });

  it("inside a delegation record too", async () => {
    const record = { agent: "spiffe://agentwrit.local/agent/o/t/a", scope: ["read:data:*"], delegated_at: "2026-11-30T03:41:12.123456789Z", "\u212Agent": "x" };
    const token = await mint(key, claims({ scope: ["read:data:x"], delegation_chain: [{ ...record, AGENT: "spiffe://x/agent/a/b/c" }] }));
    expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(token)))).toBe("malformed_claims");
  });

  it("unrelated non-ASCII keys are not refused (Go ignores them, so do we)", async () => {
    const token = await mint(key, claims({ "ſomething-else": 1, "é": "x" }));
    expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(token)))).toBe("accepted");
  });
});

describe("header keys Go would read as alg, kid or typ are refused before any key work", () => {
  it.each([
    ["ALG", { alg: "EdDSA", ALG: "none" }],
    ["Alg", { alg: "EdDSA", Alg: "HS256" }],
    ["\u212Aid", { alg: "EdDSA", "\u212Aid": "other" }],
    ["KID", { alg: "EdDSA", KID: "other" }],
    ["tyP", { alg: "EdDSA", tyP: "x" }],
  ])("%s", async (_name, header) => {
    const token = mintText(JSON.stringify(claims()), header);
    for (const guard of modes()) expect(await outcome(guard.authenticate(bearer(token)))).toBe("malformed_token");
  });
});

describe("integers as Go decodes them", () => {
  const exp = nowSec() + 300;
  const base = JSON.stringify(claims({ exp: 1234 }));
  const withExp = (text: string): string => base.replace('"exp":1234', `"exp":${text}`);

  it.each([
    ["exponent", "4.1e9"],
    ["exponent, capital E", "41E8"],
    ["trailing .0", `${String(exp)}.0`],
    ["fraction", `${String(exp)}.5`],
    ["negative exponent", `${String(exp * 10)}e-1`],
  ])("exp written with %s is refused (Go: cannot unmarshal number into int64)", async (_name, text) => {
    const token = mintText(withExp(text));
    for (const guard of modes()) expect(await outcome(guard.authenticate(bearer(token)))).toBe("malformed_claims");
  });

  it("nbf or iat as a float, or a float anywhere in the claims, is refused", async () => {
    for (const text of [base.replace(/"nbf":\d+/, '"nbf":1.0'), base.replace(/"iat":\d+/, '"iat":1e3'), base.replace("{", '{"x":1.5,')]) {
      expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(mintText(text.replace('"exp":1234', `"exp":${String(exp)}`)))))).toBe(
        "malformed_claims",
      );
    }
  });

  it("an exponent-looking string value is not a number", async () => {
    const token = mintText(withExp(String(exp)).replace('"task_id":"task-1"', '"task_id":"1e9.0"'));
    expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(token)))).toBe("accepted");
  });

  it("integers beyond what both readers agree on are refused (Go: int64 overflow; JS: unsafe integer)", async () => {
    for (const text of ["9223372036854775808", "9007199254740993"]) {
      expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(mintText(withExp(text)))))).toBe("malformed_claims");
    }
  });

  it("a plain integer exp, and -0 for nbf (Go reads 0), are accepted", async () => {
    const token = mintText(withExp(String(exp)).replace(/"nbf":\d+/, '"nbf":-0'));
    expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(token)))).toBe("accepted");
  });
});

describe("several Authorization credentials are invalid_request, whatever the first scheme", () => {
  const guard = createGuard({ publicKey: key.jwk });
  it.each([
    ["Basic first", ["Authorization", "Basic dXNlcjpwYXNz", "Authorization", "Bearer abc.def.ghi"]],
    ["Bearer first", ["Authorization", "Bearer abc.def.ghi", "Authorization", "Basic dXNlcjpwYXNz"]],
    ["Digest first", ["Authorization", 'Digest username="a", realm="b"', "Authorization", "Bearer x"]],
    ["the same twice", ["authorization", "Bearer abc", "AUTHORIZATION", "Bearer abc"]],
    ["an empty second", ["Authorization", "Basic abc", "Authorization", ""]],
  ])("%s", async (_name, raw) => {
    const err = await guard.authenticate(authorizationFromRawHeaders(raw)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "malformed_authorization", status: 401 });
    expect((err as { wwwAuthenticate: string }).wwwAuthenticate).toContain('error="invalid_request"');
  });
  it("a single credential with auth-params (commas inside) is still just another scheme", async () => {
    expect(await outcome(guard.authenticate('Digest username="a, Bearer b", realm="c"'))).toBe("unsupported_scheme");
    expect(await outcome(guard.authenticate("Basic dXNlcjpwYXNz"))).toBe("unsupported_scheme");
  });
});

describe("genuine tokens as large as the broker issues", () => {
  it("a 250-scope token (~9.8 KB, valid at the broker) is accepted by default; 16 KiB is the cap", async () => {
    const scope = Array.from({ length: 250 }, (_, i) => `read:data:customer-${String(100000 + i)}`);
    const token = await mint(key, claims({ scope }));
    expect(token.length).toBeGreaterThan(8192);
    for (const guard of modes()) {
      await expect(guard.verify(bearer(token), "read:data:customer-{id}", { id: "100249" })).resolves.toMatchObject({ agentId: claims().sub });
    }
    const huge = await mint(key, claims({ scope: Array.from({ length: 450 }, (_, i) => `read:data:customer-${String(100000 + i)}`) }));
    expect(huge.length).toBeGreaterThan(16384);
    expect(await outcome(createGuard({ publicKey: key.jwk }).authenticate(bearer(huge)))).toBe("token_too_large");
  });
  it("a large forged token is remembered under a digest, and a repeat is refused without signature work", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const scope = Array.from({ length: 100 }, (_, i) => `read:data:customer-${String(i)}`);
    const forged = signJws({ alg: "EdDSA", typ: "JWT", kid: key.kid }, claims({ scope }), makeKey().privateKey);
    expect(forged.length).toBeGreaterThan(1024);
    expect(await outcome(guard.authenticate(bearer(forged)))).toBe("invalid_signature");
    expect(guard.stats().refusalCacheSize).toBe(1);
    expect(await outcome(guard.authenticate(bearer(forged)))).toBe("invalid_signature");
    // The genuine token with the same claims is not affected by the remembered refusal.
    expect(await outcome(guard.authenticate(bearer(await mint(key, claims({ scope })))))).toBe("accepted");
    expect(b64url("x")).toBe("eA");
  });
});
