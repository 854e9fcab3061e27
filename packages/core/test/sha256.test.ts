import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Sync } from "../src/sha256.js";

describe("sha256Sync", () => {
  it("matches node:crypto at every padding boundary", () => {
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 16384]) {
      const d = randomBytes(n);
      expect(Buffer.from(sha256Sync(d)).toString("hex"), `length ${String(n)}`).toBe(createHash("sha256").update(d).digest("hex"));
    }
  });
  it("FIPS 180-4 vector", () => {
    expect(Buffer.from(sha256Sync(new TextEncoder().encode("abc"))).toString("hex")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
