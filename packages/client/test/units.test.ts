/** Pure units of the client: errors, retries, origins, Ed25519 helpers, token reading. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeBase64Url, generateAgentKey, publicKeyBase64, resolveAgentKey, signNonce } from "../src/crypto.js";
import { AgentWritError, AuthenticationError, AuthorizationError, CryptoError, ProblemResponseError, RateLimitError, parseRetryAfter, problemError } from "../src/errors.js";
import { normalizeOrigins } from "../src/fetch.js";
import { backoffDelay, SerialQueue, withRetries } from "../src/retry.js";
import { wantedScope } from "../src/step-up.js";
import { readTokenFacts } from "../src/token-ops.js";
import { CLIENT_VERSION } from "../src/version.js";

describe("errors", () => {
  const problem = (status: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ type: "urn:agentwrit:error:x", title: "T", status, detail: "d", instance: "/p", error_code: "x", request_id: "r1", ...extra });

  it.each([
    [401, AuthenticationError],
    [403, AuthorizationError],
    [429, RateLimitError],
    [400, ProblemResponseError],
    [500, ProblemResponseError],
  ])("%i → %o, a ProblemResponseError and an AgentWritError", (status, cls) => {
    const e = problemError(status, problem(status), "/p", new Headers());
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(ProblemResponseError);
    expect(e).toBeInstanceOf(AgentWritError);
    expect(e).toMatchObject({ status, errorCode: "x", requestId: "r1", message: "T: d", problem: { type: "urn:agentwrit:error:x", instance: "/p" } });
    expect(e.name).toBe(cls.name);
  });

  it("a body that is not a problem degrades as the Python SDK's; the request id falls back to X-Request-ID", () => {
    const e = problemError(502, "<html>bad gateway</html>", "/v1/x", new Headers({ "x-request-id": "abc" }));
    expect(e.problem).toEqual({ type: "about:blank", title: "HTTP 502", status: 502, detail: "<html>bad gateway</html>", instance: "/v1/x", requestId: "abc" });
    expect(problemError(500, "x".repeat(1000), "/", new Headers()).problem.detail).toHaveLength(200);
  });

  it("Retry-After: seconds or an HTTP date", () => {
    expect(parseRetryAfter("60")).toBe(60);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 0)).toBe(10);
    expect(parseRetryAfter(new Date(0).toUTCString(), 5000)).toBe(0);
    const limited = problemError(429, problem(429), "/", new Headers({ "retry-after": "60" }));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited).toMatchObject({ retryAfter: 60 });
  });

  it("CryptoError and friends keep their names", () => {
    expect(new CryptoError("x").name).toBe("CryptoError");
    expect(new AgentWritError("x", { cause: 1 }).cause).toBe(1);
  });
});

describe("retries", () => {
  const policy = { retries: 3, baseDelayMs: 1, maxDelayMs: 4 };

  it("backoff doubles up to the cap, half of it random", () => {
    for (let n = 0; n < 10; n++) {
      const cap = Math.min(4, 2 ** n);
      const d = backoffDelay(policy, n);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    }
  });

  it("retries only what it is told to, a bounded number of times", async () => {
    let calls = 0;
    await expect(withRetries(policy, () => true, async () => { calls++; throw new Error("always"); })).rejects.toThrow("always");
    expect(calls).toBe(4);
    calls = 0;
    await expect(withRetries(policy, () => false, async () => { calls++; throw new Error("once"); })).rejects.toThrow("once");
    expect(calls).toBe(1);
    calls = 0;
    expect(await withRetries(policy, () => true, async () => (++calls < 3 ? Promise.reject(new Error("x")) : "ok"))).toBe("ok");
  });

  it("SerialQueue runs one task at a time, whatever each one's outcome", async () => {
    const q = new SerialQueue();
    let running = 0;
    let most = 0;
    const task = (fail: boolean) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (fail) throw new Error("f");
      return "ok";
    };
    const results = await Promise.allSettled([q.run(task(false)), q.run(task(true)), q.run(task(false))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(most).toBe(1);
  });
});

describe("allowedOrigins", () => {
  it("normalises origins and refuses anything that is not one", () => {
    expect([...normalizeOrigins(["https://API.example.com/", new URL("http://127.0.0.1:8080")])]).toEqual(["https://api.example.com", "http://127.0.0.1:8080"]);
    expect([...normalizeOrigins(["https://api.example.com:443"])]).toEqual(["https://api.example.com"]);
    for (const bad of ["https://api.example.com/v1", "https://api.example.com?x", "https://api.example.com#f", "https://u@api.example.com", "file:///etc", "data:,x", "nope"]) {
      expect(() => normalizeOrigins([bad])).toThrow(AgentWritError);
    }
  });
});

describe("Ed25519 over Web Crypto", () => {
  it("signs the hex-decoded nonce; the public key is the raw 32 bytes in standard base64", async () => {
    const pair = await generateAgentKey();
    expect(pair.privateKey.extractable).toBe(false);
    const nonce = "00ff10".repeat(10) + "abcd";
    const sig = Uint8Array.from(atob(await signNonce(pair, nonce)), (c) => c.charCodeAt(0));
    const bytes = Uint8Array.from(nonce.match(/../g)!.map((h) => parseInt(h, 16)));
    expect(await crypto.subtle.verify({ name: "Ed25519" }, pair.publicKey, sig, bytes)).toBe(true);
    expect(atob(await publicKeyBase64(pair))).toHaveLength(32);
    await expect(signNonce(pair, "not-hex")).rejects.toThrow(CryptoError);
    await expect(signNonce(pair, "abc")).rejects.toThrow(CryptoError);
  });

  it("takes a pair, or an extractable private key; refuses other keys", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]));
    expect(await resolveAgentKey(pair)).toBe(pair);
    const derived = await resolveAgentKey(pair.privateKey);
    expect(await publicKeyBase64(derived)).toBe(await publicKeyBase64(pair));
    await expect(resolveAgentKey(pair.publicKey)).rejects.toThrow(CryptoError);
    await expect(resolveAgentKey({ privateKey: pair.publicKey, publicKey: pair.publicKey })).rejects.toThrow(CryptoError);
    const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
    await expect(resolveAgentKey(hmac)).rejects.toThrow(CryptoError);
  });

  it("decodes base64url with or without padding, and nothing else", () => {
    expect(decodeBase64Url("aGk")).toEqual(new Uint8Array([104, 105]));
    expect(decodeBase64Url("aGk=")).toEqual(new Uint8Array([104, 105]));
    expect(decodeBase64Url("a+b")).toBeNull();
    expect(decodeBase64Url("a b")).toBeNull();
  });
});

describe("reading what the broker issued", () => {
  const jwt = (claims: unknown) => `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.sig`;

  it("sub and scope from the payload; an unreadable token is an error that quotes nothing", () => {
    expect(readTokenFacts(jwt({ sub: "s", scope: ["a:b:c"] }), "/p")).toEqual({ sub: "s", scope: ["a:b:c"] });
    for (const bad of ["nodots", jwt({ sub: "s" }), jwt({ sub: 1, scope: [] }), jwt({ sub: "s", scope: [1] }), "a.%%%.c"]) {
      expect(() => readTokenFacts(bad, "/p")).toThrow(/the token the broker issued on \/p/);
    }
  });

  it("wanted scope: held plus what it does not cover, in the broker's algebra", () => {
    expect(wantedScope(["read:data:*"], ["read:data:x", "write:data:y"])).toEqual(["read:data:*", "write:data:y"]);
    expect(wantedScope([], ["a:b:c", "a:b:c"])).toEqual(["a:b:c"]);
  });
});

it("CLIENT_VERSION is the package's version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  expect(CLIENT_VERSION).toBe(pkg.version);
});
