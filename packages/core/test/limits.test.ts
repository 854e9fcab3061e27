/**
 * Nothing empty means "anyone", every bound value is bounded, challenges stay small, and a
 * placeholder the route cannot fill is the server's mistake (500), not the client's (400).
 */
import { describe, expect, it } from "vitest";
import {
  allOf,
  anyOf,
  compileRequirement,
  createGuard,
  GuardError,
  guardFromEnv,
  placeholdersMissingFromRoute,
  resolveGuard,
  routeParamNames,
  type AgentIdentity,
} from "../src/index.js";
import { bearer, claims, makeKey, mint } from "./support/tokens.js";

const key = makeKey();

async function agent(scope: string[] = ["read:data:customer-42"]): Promise<{ guard: ReturnType<typeof createGuard>; id: AgentIdentity }> {
  const guard = createGuard({ publicKey: key.jwk });
  return { guard, id: await guard.authenticate(bearer(await mint(key, claims({ scope })))) };
}

describe("an empty requirement is a TypeError, never 'anyone'", () => {
  it.each([
    ["[]", []],
    ["[[]]", [[]]],
    ["nested in a list", ["read:data:x", []]],
    ["anyOf()", anyOf()],
    ["allOf()", allOf()],
    ["anyOf with an empty list", anyOf([])],
    ["allOf nested in anyOf", anyOf("read:data:x", allOf())],
  ])("%s", (_name, req) => {
    expect(() => compileRequirement(req as never)).toThrow(TypeError);
  });
  it("also through the guard", async () => {
    const { guard, id } = await agent();
    expect(() => guard.authorize(id, [] as never)).toThrow(TypeError);
  });
});

describe("placeholder values", () => {
  it("longer than maxParamLength (default 256) is 400 before any scope work, naming the placeholder in the reason only", async () => {
    const { guard, id } = await agent();
    const err = (() => {
      try {
        guard.authorize(id, "read:data:customer-{id}", { id: "4".repeat(257) });
      } catch (e) {
        return e as GuardError;
      }
      return undefined;
    })();
    expect(err).toMatchObject({ code: "invalid_parameter", status: 400 });
    expect(err?.reason).toContain("{id}");
    expect(err?.reason).toContain("maxParamLength");
    expect(JSON.stringify(err?.problem)).not.toContain("{id}");
    expect(() => guard.authorize(id, "read:data:customer-{id}", { id: "4".repeat(256) })).toThrow(expect.objectContaining({ code: "insufficient_scope" }) as Error);
    const tight = createGuard({ publicKey: key.jwk, maxParamLength: 4 });
    expect(() => tight.authorize(id, "read:data:customer-{id}", { id: "12345" })).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
  });
  it("a placeholder absent from route params is 500 requirement_param_missing; from client input, 400", async () => {
    const { guard, id } = await agent();
    const route = { paramSource: "route", route: "GET /customers/:customerId" } as const;
    let err: unknown;
    try {
      guard.authorize(id, "read:data:customer-{id}", { customerId: "42" }, route);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "requirement_param_missing", status: 500, headers: {} });
    expect((err as GuardError).reason).toContain("{id}");
    expect((err as GuardError).reason).toContain("GET /customers/:customerId");
    expect((err as GuardError).problem.detail).not.toContain("{id}");
    // Present but empty or unsafe stays the client's 400.
    expect(() => guard.authorize(id, "read:data:customer-{id}", { id: "" }, route)).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
    expect(() => guard.authorize(id, "read:data:customer-{id}", { id: "*" }, route)).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
    // Tool arguments: the client left it out.
    expect(() => guard.authorize(id, "read:data:customer-{id}", {}, { paramSource: "input" })).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
    await expect(guard.verify(bearer(await mint(key, claims())), "read:data:customer-{id}", {}, route)).rejects.toMatchObject({ code: "requirement_param_missing" });
  });
  it("route paths: declared names and the placeholders they lack", () => {
    expect(routeParamNames("/customers/:customerId/orders/:id?")).toEqual(["customerId", "id"]);
    expect(routeParamNames("/files/*rest")).toEqual(["rest"]);
    expect(routeParamNames("/a/:id{[0-9]+}/:x-:y")).toEqual(["id", "x", "y"]);
    expect(placeholdersMissingFromRoute("read:data:customer-{id}", "/customers/:customerId")).toEqual(["id"]);
    expect(placeholdersMissingFromRoute(["read:data:customer-{customerId}", "write:data:order-{id}"], "/customers/:customerId/orders/:id")).toEqual([]);
  });
});

describe("403 challenges stay small whatever is missing", () => {
  it("at most maxChallengeScopes (16) scopes, under 4 KiB; the body counts the rest", async () => {
    const { guard, id } = await agent();
    const req = Array.from({ length: 40 }, (_, i) => `read:data:item-${String(i)}-{id}`);
    let err: GuardError | undefined;
    try {
      guard.authorize(id, req, { id: "x".repeat(250) });
    } catch (e) {
      err = e as GuardError;
    }
    expect(err?.code).toBe("insufficient_scope");
    expect(err?.scope).toHaveLength(40);
    const challenge = err?.wwwAuthenticate ?? "";
    expect(challenge.length).toBeLessThanOrEqual(4096);
    const named = /scope="([^"]*)"/.exec(challenge)?.[1]?.split(" ") ?? [];
    expect(named.length).toBeGreaterThan(0);
    expect(named.length).toBeLessThanOrEqual(16);
    expect(err?.problem.missing_count).toBe(40);
    expect(err?.problem.scope?.length).toBe(named.length);
    // Node's own HTTP stack accepts the header.
    const { validateHeaderValue } = await import("node:http");
    expect(() => validateHeaderValue("WWW-Authenticate", challenge)).not.toThrow();
  });
  it("guard.error keeps the guard's cap unless the caller gives its own (an MCP gate's)", async () => {
    const guard = createGuard({ publicKey: key.jwk, realm: "orders", resourceMetadataUrl: "https://api.example/.well-known/oauth-protected-resource" });
    const scope = Array.from({ length: 20 }, (_, i) => `read:data:item-${String(i)}`);
    const own = guard.error("insufficient_scope", { scope });
    expect(own.problem.scope).toHaveLength(16);
    expect(own.problem.missing_count).toBe(20);
    const capped = guard.error("insufficient_scope", { scope, maxChallengeScopes: 3 });
    expect(capped.problem.scope).toHaveLength(3);
    expect(capped.wwwAuthenticate).toMatch(/scope="read:data:item-0 read:data:item-1 read:data:item-2"/);
    for (const e of [own, capped]) {
      expect(e.wwwAuthenticate).toContain('realm="orders"');
      expect(e.wwwAuthenticate).toContain('resource_metadata="https://api.example/.well-known/oauth-protected-resource"');
    }
  });
  it("a few missing scopes are all named, with no count", () => {
    const e = new GuardError("insufficient_scope", { scope: ["a:b:c", "d:e:f"] });
    expect(e.wwwAuthenticate).toContain('scope="a:b:c d:e:f"');
    expect(e.problem.missing_count).toBeUndefined();
  });
});

describe("zero-config adapters share one guard per environment", () => {
  it("the same environment gives the same guard; another gives another", () => {
    const env = { AGENTWRIT_PUBLIC_KEY: key.publicKeyPem.replace(/\n/g, "\\n") };
    const a = resolveGuard(undefined, env);
    expect(resolveGuard(undefined, { ...env })).toBe(a);
    expect(guardFromEnv(env)).toBe(a);
    expect(guardFromEnv({ ...env, AGENTWRIT_AUDIENCE: "api" })).not.toBe(a);
    expect(() => guardFromEnv({ ...env, AGENTWRIT_LOG: "loud" })).toThrow(/AGENTWRIT_LOG/);
  });
});
