import { describe, expect, it, vi } from "vitest";
import { authorizationFromRawHeaders, bearerToken, createGuard, GuardError, optionsFromEnv, resolveGuard, splitAdapterOptions, toErrorResponse, WiringReport } from "../src/index.js";
import { makeKey } from "./support/tokens.js";

describe("adapter support", () => {
  it("optionsFromEnv reads the four variables and fails clearly with none", () => {
    const key = makeKey();
    expect(optionsFromEnv({ AGENTWRIT_BROKER_URL: "http://127.0.0.1:8080", AGENTWRIT_AUDIENCE: "a, b", AGENTWRIT_ISSUER: "" })).toEqual({
      brokerUrl: "http://127.0.0.1:8080",
      audience: ["a", "b"],
      issuer: "",
    });
    const fromEnv = optionsFromEnv({ AGENTWRIT_PUBLIC_KEY: key.publicKeyPem.replace(/\n/g, "\\n") });
    expect(fromEnv.publicKey).toBe(key.publicKeyPem.trim());
    expect(createGuard(fromEnv).mode).toBe("local");
    expect(() => optionsFromEnv({})).toThrow(/AGENTWRIT_BROKER_URL/);
    expect(() => resolveGuard(undefined, {})).toThrow(TypeError);
    expect(resolveGuard(undefined, { AGENTWRIT_PUBLIC_KEY: key.rawBase64 }).mode).toBe("local");
    const g = createGuard({ publicKey: key.jwk });
    expect(resolveGuard(g)).toBe(g);
    expect(resolveGuard({ brokerUrl: "http://127.0.0.1:1" }).mode).toBe("broker");
  });
  it("splitAdapterOptions separates the guard from adapter options", () => {
    const key = makeKey();
    const g = createGuard({ publicKey: key.jwk });
    expect(splitAdapterOptions(g, ["passErrors"], undefined).guard).toBe(g);
    const both = splitAdapterOptions<{ passErrors: boolean }>({ guard: g, passErrors: true, prefix: "/x" }, ["passErrors"], undefined, ["prefix"]);
    expect(both.guard).toBe(g);
    expect(both.adapter).toEqual({ passErrors: true });
    const inline = splitAdapterOptions({ publicKey: key.jwk, passErrors: false }, ["passErrors"], undefined);
    expect(inline.guard.mode).toBe("local");
    expect(splitAdapterOptions({ passErrors: true }, ["passErrors"], { AGENTWRIT_PUBLIC_KEY: key.rawBase64 }).guard.mode).toBe("local");
    expect(() => splitAdapterOptions({ guard: g, publicKey: key.jwk }, [], undefined)).toThrow(TypeError);
    expect(() => splitAdapterOptions({ passErrors: true }, ["passErrors"], {})).toThrow(/AGENTWRIT_BROKER_URL/);
    expect(() => splitAdapterOptions("x", [], undefined)).toThrow(TypeError);
  });
  it("toErrorResponse renders status, challenge and problem+json", () => {
    const r = toErrorResponse(new GuardError("token_expired", { realm: "api" }));
    expect(r.status).toBe(401);
    expect(r.headers["Content-Type"]).toBe("application/problem+json");
    expect(r.headers["WWW-Authenticate"]).toContain('error="invalid_token"');
    expect(JSON.parse(r.body)).toMatchObject({ code: "token_expired", status: 401 });
    expect(toErrorResponse(new GuardError("broker_unavailable")).headers["Retry-After"]).toBe("1");
  });
  it("bearerToken returns the token of a well-formed header only", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken("bearer   abc")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken("Bearer a b")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(createGuard({ publicKey: makeKey().jwk, audience: ["a", "b"] }).audience).toEqual(["a", "b"]);
  });
  it("authorizationFromRawHeaders joins duplicates so they are refused", async () => {
    expect(authorizationFromRawHeaders(["Host", "x", "authorization", "Bearer a"])).toBe("Bearer a");
    expect(authorizationFromRawHeaders(["Authorization", "Bearer a", "AUTHORIZATION", "Bearer b"])).toBe("Bearer a, Bearer b");
    expect(authorizationFromRawHeaders(["Host", "x"])).toBeUndefined();
    // Every spelling of the name, and none of the other 13-character names.
    expect(authorizationFromRawHeaders(["aUtHoRiZaTiOn", "1", "Cache-Control", "x", "authorizatioN", "2", "If-None-Match", "y", "Authorization", "3", "authorisation", "z"])).toBe("1, 2, 3");
    const g = createGuard({ publicKey: makeKey().jwk });
    await expect(g.authenticate("Bearer a, Bearer b")).rejects.toMatchObject({ code: "malformed_authorization" });
  });
  it("WiringReport: one line per reporter, for 500s only, none when the guard logs them (but guard_not_mounted always)", () => {
    const lines: [object, string | undefined][] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (o: object, m?: string) => lines.push([o, m]) };
    const wiring = new WiringReport(log);
    wiring.report(new GuardError("insufficient_scope", { reason: "client" }), false, "GET /a");
    wiring.report(new GuardError("requirement_param_missing", { reason: "rename {id}" }), true, "GET /a");
    expect(lines).toHaveLength(0);
    wiring.report(new GuardError("requirement_param_missing", { reason: "rename {id}" }), false, "GET /a");
    wiring.report(new GuardError("requirement_param_missing", { reason: "again" }), false, "GET /a");
    expect(lines).toEqual([[{ code: "requirement_param_missing", route: "GET /a", reason: "rename {id}" }, "agentwrit: rename {id}"]]);
    // A route given as a function is worked out only for a line that is written.
    const lazy = new WiringReport(log);
    const route = vi.fn(() => "GET /lazy");
    lazy.report(new GuardError("insufficient_scope", { reason: "client" }), false, route);
    lazy.report(new GuardError("requirement_param_missing", { reason: "logged by the guard" }), true, route);
    expect(route).not.toHaveBeenCalled();
    lazy.report(new GuardError("requirement_param_missing", { reason: "rename {x}" }), false, route);
    lazy.report(new GuardError("requirement_param_missing", { reason: "again" }), false, route);
    expect(route).toHaveBeenCalledTimes(1);
    expect(lines.pop()).toEqual([{ code: "requirement_param_missing", route: "GET /lazy", reason: "rename {x}" }, "agentwrit: rename {x}"]);
    const mounted = new WiringReport(log);
    mounted.report(new GuardError("guard_not_mounted", { reason: "mount it" }), true, undefined);
    expect(lines).toHaveLength(2);
    // Without a logger: console.error, once.
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const toConsole = new WiringReport();
      for (let i = 0; i < 3; i++) toConsole.report(new GuardError("guard_not_mounted", { reason: "mount it" }), false, "GET /b");
      expect(errors).toHaveBeenCalledTimes(1);
      expect(errors.mock.calls[0]?.[0]).toBe("agentwrit: mount it");
    } finally {
      errors.mockRestore();
    }
  });
});
