import { describe, expect, it } from "vitest";
import { anyOf, allOf, checkRequirementParams, compileRequirement, createGuard, evaluateRequirement, isRequirement, requirementFamily, type AgentIdentity } from "../src/index.js";
import { bearer, claims, makeKey, mint } from "./support/tokens.js";

const held = ["read:data:customer-42", "write:data:order-7", "read:reports:*", "read:data:customers:42"];
const ev = (r: Parameters<typeof compileRequirement>[0], p?: Record<string, unknown>) => evaluateRequirement(compileRequirement(r), held, p);

describe("requirement forms", () => {
  it("exact under the broker's rule", () => {
    expect(ev("read:data:customer-42").satisfied).toBe(true);
    expect(ev("read:data:customer-43")).toMatchObject({ satisfied: false, missing: ["read:data:customer-43"] });
    expect(ev("read:reports:q3").satisfied).toBe(true);
    expect(ev("read:data:customers:42").satisfied).toBe(true);
  });
  it("family", () => {
    expect(ev("read:data:*").satisfied).toBe(true);
    expect(ev("write:data:order-*").satisfied).toBe(true);
    expect(ev("write:data:customer-*").satisfied).toBe(false);
    expect(ev("read:reports:*").satisfied).toBe(true);
    expect(ev("delete:data:*").satisfied).toBe(false);
    expect(evaluateRequirement(compileRequirement("write:data:order-*"), ["write:data:order-"]).satisfied).toBe(false);
  });
  it("templates bind params and never widen", () => {
    const r = "write:data:order-{id}";
    expect(ev(r, { id: "7" }).satisfied).toBe(true);
    expect(ev(r, { id: "8" })).toMatchObject({ satisfied: false, missing: ["write:data:order-8"] });
    for (const bad of [undefined, "", "*", "%2A", "7*", 7, ["7"], "a b", "x\n", "{id}"]) {
      expect(() => ev(r, { id: bad }), String(bad)).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
    }
    expect(() => ev(r)).toThrow();
    expect(ev("read:data:customer-{id}", { id: "42:x" }).satisfied).toBe(false);
  });
  it("checkRequirementParams refuses exactly what evaluateRequirement refuses, and does no scope work", () => {
    const r = compileRequirement(["write:data:order-{id}", "read:data:customer-{customer}"]);
    const outcome = (f: () => unknown): string => {
      try {
        f();
        return "ok";
      } catch (e) {
        return (e as { code?: string }).code ?? "other";
      }
    };
    const cases: (Record<string, unknown> | undefined)[] = [
      undefined, {}, { id: "7" }, { id: "7", customer: "42" }, { id: "7", customer: "" }, { id: "*", customer: "1" }, { id: "7", customer: "x".repeat(257) },
      { id: "7", customer: "a\u0000" }, { id: "7", customer: 42 }, { id: "7", customer: "%41" },
    ];
    for (const p of cases) {
      for (const options of [undefined, { paramSource: "route" as const }, { maxParamLength: 4 }]) {
        const expected = outcome(() => evaluateRequirement(r, held, p, options));
        expect(outcome(() => checkRequirementParams(r, p, options)), JSON.stringify([p, options])).toBe(expected === "ok" ? "ok" : expected);
      }
    }
    expect(outcome(() => checkRequirementParams(r, { id: "7" }, { paramSource: "route" }))).toBe("requirement_param_missing");
    // Held scopes play no part: values that are fine pass even when no scope is held.
    expect(checkRequirementParams(r, { id: "7", customer: "42" })).toBeUndefined();
  });
  it("all-of names every missing scope; any-of names every alternative", () => {
    expect(ev(["read:data:customer-1", "read:data:customer-42", "write:data:order-9"]).missing).toEqual([
      "read:data:customer-1",
      "write:data:order-9",
    ]);
    expect(ev(anyOf("read:data:customer-1", "read:data:customer-42")).satisfied).toBe(true);
    expect(ev(anyOf("read:data:customer-1", "read:data:customer-2")).missing).toEqual(["read:data:customer-1", "read:data:customer-2"]);
    expect(ev(allOf("read:data:customer-42", anyOf("x:y:z", "write:data:order-7"))).satisfied).toBe(true);
  });
  it("requirementFamily reads placeholders as any value", () => {
    const fam = requirementFamily(["read:data:customer-{id}", anyOf("write:data:order-{o}", "x:y:z")]);
    expect(fam.scopes).toEqual(["read:data:customer-*", "write:data:order-*", "x:y:z"]);
    expect(fam.params).toEqual([]);
    expect(evaluateRequirement(fam, held).satisfied).toBe(true);
    expect(evaluateRequirement(requirementFamily("read:data:order-{id}"), held).satisfied).toBe(false);
  });
  it("requirementFamily keeps the placeholders named in keep, to be bound when evaluated", () => {
    const fam = requirementFamily(["read:records:{a}-{b}", "read:records:patient-{a}"], ["a"]);
    expect(fam.scopes).toEqual(["read:records:{a}-*", "read:records:patient-{a}"]);
    expect(fam.params).toEqual(["a"]);
    const scopes = ["read:records:42-x", "read:records:patient-42"];
    expect(evaluateRequirement(fam, scopes, { a: "42" }).satisfied).toBe(true);
    expect(evaluateRequirement(fam, scopes, { a: "43" }).satisfied).toBe(false);
    expect(() => evaluateRequirement(fam, scopes, { a: "*" })).toThrow();
  });
  it("isRequirement tells requirements from options; compiled requirements nest", () => {
    expect([isRequirement("a:b:c"), isRequirement(["a:b:c"]), isRequirement(anyOf("a:b:c")), isRequirement(compileRequirement("a:b:c"))]).toEqual([true, true, true, true]);
    expect([isRequirement({ brokerUrl: "x" }), isRequirement(undefined), isRequirement(1)]).toEqual([false, false, false]);
    const nested = compileRequirement([compileRequirement("read:data:customer-{id}"), anyOf(compileRequirement("x:y:z"), "write:data:order-7")]);
    expect(evaluateRequirement(nested, held, { id: "42" }).satisfied).toBe(true);
  });
  it("malformed requirements are TypeErrors at compile time", () => {
    for (const bad of ["read:data", "read::x", "*:data:x", "read:*:x", "read:data:{", "read:data:a b", "{a}:data:x"]) {
      expect(() => compileRequirement(bad), bad).toThrow(TypeError);
    }
    expect(() => compileRequirement(anyOf())).toThrow(TypeError);
    expect(() => compileRequirement(42 as unknown as string)).toThrow(TypeError);
    expect(compileRequirement("write:data:order-{id}").params).toEqual(["id"]);
  });
});

describe("guard.authorize and guard.verify", () => {
  it("403 insufficient_scope names all missing scopes in the challenge; 400 for bad params", async () => {
    const key = makeKey();
    const events: unknown[] = [];
    const guard = createGuard({ publicKey: key.jwk, realm: "orders", resourceMetadataUrl: "https://api.example/.well-known/oauth-protected-resource", onDecision: (e) => events.push(e) });
    const id: AgentIdentity = await guard.authenticate(bearer(await mint(key, claims({ scope: ["read:data:customer-42"] }))));
    expect(() => guard.authorize(id, "read:data:customer-{id}", { id: "42" })).not.toThrow();
    let err: unknown;
    try {
      guard.authorize(id, ["read:data:customer-{id}", "write:data:order-{order}"], { id: "43", order: "1" });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "insufficient_scope",
      status: 403,
      scope: ["read:data:customer-43", "write:data:order-1"],
      wwwAuthenticate:
        'Bearer realm="orders", error="insufficient_scope", error_description="The token does not grant the scope this request needs.", scope="read:data:customer-43 write:data:order-1", resource_metadata="https://api.example/.well-known/oauth-protected-resource"',
      problem: { status: 403, code: "insufficient_scope", scope: ["read:data:customer-43", "write:data:order-1"] },
    });
    expect(() => guard.authorize(id, "read:data:customer-{id}", { id: "*" })).toThrow(expect.objectContaining({ status: 400, code: "invalid_parameter" }) as Error);
    await expect(guard.verify(bearer(await mint(key, claims({ scope: ["read:data:customer-42"] }))), "read:data:customer-{id}", { id: "41" })).rejects.toMatchObject({ code: "insufficient_scope" });
    expect(events.at(-1)).toMatchObject({ outcome: "deny", phase: "authorize", code: "insufficient_scope", required: ["read:data:customer-41"], missing: ["read:data:customer-41"] });
    expect(events.filter((e) => (e as { phase: string }).phase === "authorize")).toHaveLength(4);
  });
});
