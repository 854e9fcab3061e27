import { describe, expect, it } from "vitest";
import { createGuard, type GuardOptions } from "../src/index.js";
import { makeKey } from "./support/tokens.js";

const key = makeKey();

describe("createGuard validates options eagerly", () => {
  it.each<[string, unknown]>([
    ["nothing configured", {}],
    ["unknown option", { publicKey: key.jwk, audiance: "x" }],
    ["bad broker URL", { brokerUrl: "not a url" }],
    ["non-http broker URL", { brokerUrl: "ftp://127.0.0.1" }],
    ["broker URL with credentials", { brokerUrl: "http://u:p@127.0.0.1" }],
    ["bad PEM", { publicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }],
    ["private PEM", { publicKey: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----" }],
    ["private JWK", { publicKey: { ...key.jwk, d: "x" } }],
    ["RSA JWK", { publicKey: { kty: "RSA", n: "x", e: "AQAB" } }],
    ["short raw key", { publicKey: "AAAA" }],
    ["empty key list", { publicKey: [] }],
    ["mode local without keys", { mode: "local", brokerUrl: "http://127.0.0.1:1" }],
    ["mode broker without broker", { mode: "broker", publicKey: key.jwk }],
    ["mode hybrid without broker", { mode: "hybrid", publicKey: key.jwk }],
    ["unknown mode", { mode: "magic", publicKey: key.jwk }],
    ["negative tolerance", { publicKey: key.jwk, clockToleranceSec: -1 }],
    ["fractional staleness", { publicKey: key.jwk, maxStalenessSec: 1.5 }],
    ["zero timeout", { brokerUrl: "http://127.0.0.1:1", brokerTimeoutMs: 0 }],
    ["zero cache", { publicKey: key.jwk, cache: { max: 0 } }],
    ["tiny token cap", { publicKey: key.jwk, maxTokenBytes: 10 }],
    ["empty audience list", { publicKey: key.jwk, audience: [] }],
    ["empty audience", { publicKey: key.jwk, audience: "" }],
    ["uppercase trust domain", { publicKey: key.jwk, trustDomain: "Example.org" }],
    ["bad allowedDelegators", { publicKey: key.jwk, allowedDelegators: [1] }],
    ["bad onDecision", { publicKey: key.jwk, onDecision: "x" }],
    ["bad resource metadata URL", { publicKey: key.jwk, resourceMetadataUrl: "nope" }],
  ])("%s → TypeError", (_name, options) => {
    expect(() => createGuard(options as GuardOptions)).toThrow(TypeError);
  });
  it("picks the mode from what is configured", () => {
    expect(createGuard({ publicKey: key.jwk }).mode).toBe("local");
    expect(createGuard({ brokerUrl: "http://127.0.0.1:8080" }).mode).toBe("broker");
    expect(createGuard({ brokerUrl: "http://127.0.0.1:8080", publicKey: key.publicKeyPem }).mode).toBe("hybrid");
    expect(createGuard({ jwksUri: "http://127.0.0.1:1/jwks", brokerUrl: "http://127.0.0.1:8080" }).mode).toBe("hybrid");
  });
  it("error messages never echo key material", () => {
    try {
      createGuard({ publicKey: "-----BEGIN PUBLIC KEY-----\nSECRETSECRETSECRET\n-----END PUBLIC KEY-----" });
    } catch (e) {
      expect(String(e)).not.toContain("SECRETSECRET");
    }
  });
});
