import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildChallenge, MAX_CHALLENGE_HEADER_LENGTH, parseBearerChallenge, parseWwwAuthenticate } from "../src/index.js";

describe("parseWwwAuthenticate (RFC 9110 §11.6.1)", () => {
  it("reads auth-params, lower-casing names and unquoting values", () => {
    expect(parseWwwAuthenticate('Bearer Realm="api", error=insufficient_scope, scope="a:b:c d:e:f"')).toEqual([
      { scheme: "Bearer", params: { realm: "api", error: "insufficient_scope", scope: "a:b:c d:e:f" } },
    ]);
  });

  it("reads several challenges in one value, and a token68", () => {
    expect(parseWwwAuthenticate('Basic realm="x", Newauth abc/DEF+g==, Bearer error="invalid_token"')).toEqual([
      { scheme: "Basic", params: { realm: "x" } },
      { scheme: "Newauth", params: {}, token68: "abc/DEF+g==" },
      { scheme: "Bearer", params: { error: "invalid_token" } },
    ]);
  });

  it("accepts bare schemes, empty list elements, BWS around '=' and escaped quotes", () => {
    expect(parseWwwAuthenticate(" , Bearer ,, Basic")).toEqual([
      { scheme: "Bearer", params: {} },
      { scheme: "Basic", params: {} },
    ]);
    expect(parseWwwAuthenticate('Bearer error = "a \\"quoted\\" \\\\ word", x=""')).toEqual([
      { scheme: "Bearer", params: { error: 'a "quoted" \\ word', x: "" } },
    ]);
  });

  it.each([
    ["a repeated parameter", 'Bearer error="a", ERROR="b"'],
    ["an unterminated quoted string", 'Bearer error="a'],
    ["a parameter without a value", "Bearer error="],
    ["a control character in a quoted string", 'Bearer error="a\u0001"'],
    ["no comma between parameters", 'Bearer error="a" scope="b"'],
    ["a parameter before any scheme", 'error="a"'],
    ["garbage after a token68", "Bearer abc== def"],
    ["a separator as scheme", "(Bearer)"],
  ])("refuses %s", (_what, header) => {
    expect(parseWwwAuthenticate(header)).toBeNull();
  });

  it("refuses an over-long value without scanning it", () => {
    expect(parseWwwAuthenticate("Bearer " + "x".repeat(MAX_CHALLENGE_HEADER_LENGTH))).toBeNull();
  });
});

describe("parseBearerChallenge", () => {
  it("reads back every challenge the core builds", () => {
    const header = buildChallenge({
      error: "insufficient_scope",
      description: 'needs "more"',
      realm: "orders",
      scope: ["read:data:customer-43", "write:data:order-8"],
      resourceMetadataUrl: "https://api.example/.well-known/oauth-protected-resource",
    });
    expect(parseBearerChallenge(header)).toEqual({
      realm: "orders",
      error: "insufficient_scope",
      errorDescription: 'needs "more"',
      scope: ["read:data:customer-43", "write:data:order-8"],
      resourceMetadata: "https://api.example/.well-known/oauth-protected-resource",
    });
    expect(parseBearerChallenge(buildChallenge({ error: null }))).toEqual({ scope: [] });
  });

  it("round-trips any scope list and description through buildChallenge", () => {
    const scopeChar = fc.constantFrom(..."abcxyz019:-_.*{}&<>".split(""));
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: scopeChar, minLength: 1, maxLength: 12 }), { maxLength: 8 }),
        fc.string({ unit: fc.constantFrom(..."ab \"\\,=;".split("")), maxLength: 20 }),
        (scope, description) => {
          const parsed = parseBearerChallenge(buildChallenge({ error: "insufficient_scope", description, scope }));
          expect(parsed).toEqual({ error: "insufficient_scope", errorDescription: description, scope });
        },
      ),
    );
  });

  it("finds the Bearer challenge among others, case-insensitively", () => {
    expect(parseBearerChallenge('Basic realm="x", bEaReR error="invalid_token"')).toEqual({ error: "invalid_token", scope: [] });
  });

  it("is undefined without a header, without a Bearer challenge, or for a header it cannot parse", () => {
    expect(parseBearerChallenge(null)).toBeUndefined();
    expect(parseBearerChallenge(undefined)).toBeUndefined();
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseBearerChallenge('Bearer error="insufficient_scope", error="x"')).toBeUndefined();
  });
});
