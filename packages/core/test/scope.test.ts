import { describe, expect, it } from "vitest";
import { isValidScope, parseScope, scopeCovers, scopeIsSubset } from "../src/index.js";

describe("parseScope (broker ParseScope, D.4 #27)", () => {
  it.each(["read:Customers:12345", "read:Customers:*", "admin:launch-tokens:*"])("accepts %s", (s) => {
    expect(parseScope(s)).not.toBeNull();
  });
  it.each(["read:Customers", "read", "", ":Customers:*", "read::*", "read:Customers:"])("rejects %j", (s) => {
    expect(parseScope(s)).toBeNull();
    expect(isValidScope(s)).toBe(false);
  });
  it("splits at most three ways: the identifier keeps its colons", () => {
    expect(parseScope("read:data:customers:42")).toEqual({ action: "read", resource: "data", identifier: "customers:42" });
  });
  it("does not trim or fold case", () => {
    expect(parseScope(" read:data:x")).toEqual({ action: " read", resource: "data", identifier: "x" });
    expect(isValidScope(42)).toBe(false);
  });
});

// Part A.5.4: the broker's Go semantics (which we follow) next to the Python SDK's.
const table: [string[], string[], boolean, boolean][] = [
  [["read:data:x"], ["read:data:*"], true, true],
  [["read:data:*"], ["read:data:x"], false, false],
  [["read:data:x:y"], ["read:data:*"], true, false],
  [["read:data:x:y"], ["read:data:x:y"], true, true],
  [["read:data:x:*"], ["read:data:x:*"], true, true],
  [["read:data:x:y"], ["read:data:x:*"], false, false],
  [["read::x"], ["read::x"], false, true],
  [["foo"], ["foo"], false, true],
  [["*"], ["*"], false, true],
  [["read:data:"], ["read:data:*"], false, true],
  [["read:data:x"], ["*"], false, false],
  [["read:data:x"], ["*:*:*"], false, false],
  [["*:*:*"], ["*:*:*"], true, true],
  [["*:*:x"], ["*:*:*"], true, true],
  [["read:data:x"], ["*:data:x"], false, false],
  [["Read:data:x"], ["read:data:*"], false, false],
  [[" read:data:x"], ["read:data:*"], false, false],
  [["read:data:*"], ["read:data:*"], true, true],
  [[], [], true, true],
  [[], ["read:data:*"], true, true],
  [["read:data:x"], [], false, false],
];

describe("scopeIsSubset follows Go, not the Python SDK (A.5.4)", () => {
  it.each(table)("%j ⊆ %j → Go %s (Python %s)", (requested, held, go) => {
    expect(scopeIsSubset(requested, held)).toBe(go);
  });
});

describe("scopeIsSubset (D.4 #28)", () => {
  it("exact, wildcard, several requested and several held", () => {
    expect(scopeIsSubset(["read:Customers:1"], ["read:Customers:1"])).toBe(true);
    expect(scopeIsSubset(["read:Customers:1"], ["read:Customers:*"])).toBe(true);
    expect(scopeIsSubset(["read:Customers:*"], ["read:Customers:1"])).toBe(false);
    expect(scopeIsSubset(["write:Customers:1"], ["read:Customers:*"])).toBe(false);
    expect(scopeIsSubset(["read:Orders:1"], ["read:Customers:*"])).toBe(false);
    expect(scopeIsSubset(["read:a:1", "read:b:2"], ["read:a:*", "read:b:*"])).toBe(true);
    expect(scopeIsSubset(["read:a:1", "read:c:2"], ["read:a:*", "read:b:*"])).toBe(false);
    expect(scopeIsSubset(["admin:revoke:*"], ["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"])).toBe(true);
  });
  it("an identifier like x:* is not a wildcard", () => {
    expect(scopeCovers("read:data:x:y", "read:data:x:*")).toBe(false);
  });
});
