import { createPrivateKey, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  computeChainHash,
  createGuard,
  delegationSigningInput,
  ed25519Kid,
  formatRfc3339Nano,
  goJsonChain,
  publicKeyToX,
  type DelegationRecord,
} from "../src/index.js";

// Appendix 1: the RFC 8037 test key.
const X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const PEM_PUBLIC = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
const PEM_PRIVATE = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
const SIG =
  "f3232a82349050178142ffba339c0820296d8a16427f41a037728bc87600beebffb2949c09982d1418e8a928d590ce0950a057999b6fc0e4722dafa57069a109";
const RECORD: DelegationRecord = {
  agent: "spiffe://agentwrit.local/agent/orch-1/task-1/aaaaaaaaaaaaaaaa",
  scope: ["read:data:*", "write:data:*"],
  delegated_at: "2026-04-14T20:26:27.257796884Z",
  signature: SIG,
};
export const FIXTURE_TOKEN =
  "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsifQ.eyJpc3MiOiIiLCJzdWIiOiJzcGlmZmU6Ly9hZ2VudHdyaXQubG9jYWwvYWdlbnQvb3JjaC0xL3Rhc2stMi9iYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoyMDAwMDAwMDYwLCJuYmYiOjIwMDAwMDAwMDAsImlhdCI6MjAwMDAwMDAwMCwianRpIjoiMDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYiLCJzY29wZSI6WyJyZWFkOmRhdGE6KiJdLCJ0YXNrX2lkIjoidGFzay0xIiwib3JjaF9pZCI6Im9yY2gtMSIsImRlbGVnYXRpb25fY2hhaW4iOlt7ImFnZW50Ijoic3BpZmZlOi8vYWdlbnR3cml0LmxvY2FsL2FnZW50L29yY2gtMS90YXNrLTEvYWFhYWFhYWFhYWFhYWFhYSIsInNjb3BlIjpbInJlYWQ6ZGF0YToqIiwid3JpdGU6ZGF0YToqIl0sImRlbGVnYXRlZF9hdCI6IjIwMjYtMDQtMTRUMjA6MjY6MjcuMjU3Nzk2ODg0WiIsInNpZ25hdHVyZSI6ImYzMjMyYTgyMzQ5MDUwMTc4MTQyZmZiYTMzOWMwODIwMjk2ZDhhMTY0MjdmNDFhMDM3NzI4YmM4NzYwMGJlZWJmZmIyOTQ5YzA5OTgyZDE0MThlOGE5MjhkNTkwY2UwOTUwYTA1Nzk5OWI2ZmMwZTQ3MjJkYWZhNTcwNjlhMTA5In1dLCJjaGFpbl9oYXNoIjoiYjdiNGYzZDM3YzQwMDA3NzZmZjBiNzA4YmZmNjhkNWRiMzZmNmUwNjM5MTg1ZTg0Y2U2MGQwYWQ2YTJmYmIxMiJ9.e9PQKE5DW8kSUQpt8WG5ZLlrnCjlj5szDAtcxeyrU_UdQjBkX7cuQPfcV41oOixo1biq3kokpPVMqMvVihdnBg";

describe("RFC 8037 / Appendix 1 vectors", () => {
  it("kid is the RFC 7638 thumbprint RFC 8037 publishes", async () => {
    expect(await ed25519Kid(X)).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });
  it("every configured key form yields the same key", () => {
    expect(publicKeyToX(PEM_PUBLIC)).toBe(X);
    expect(publicKeyToX({ kty: "OKP", crv: "Ed25519", x: X })).toBe(X);
    expect(publicKeyToX("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")).toBe(X);
    expect(publicKeyToX(X)).toBe(X);
  });
  it("record signing input, signature and chain_hash (A.6.5)", async () => {
    const input = delegationSigningInput(RECORD);
    expect(input).toBe(
      "spiffe://agentwrit.local/agent/orch-1/task-1/aaaaaaaaaaaaaaaa|read:data:*,write:data:*|2026-04-14T20:26:27.257796884Z",
    );
    expect(sign(null, Buffer.from(input), createPrivateKey(PEM_PRIVATE)).toString("hex")).toBe(SIG);
    expect(await computeChainHash([RECORD])).toBe("b7b4f3d37c4000776ff0b708bff68d5db36f6e0639185e84ce60d0ad6a2fbb12");
  });
  it("Go JSON escapes <, >, &, U+2028 and U+2029 and omits an empty signature", () => {
    const r: DelegationRecord = { agent: "a<b>&c\u2028\u2029\"\\\n\u0001", scope: ["x:y:<z>"], delegated_at: "t" };
    expect(goJsonChain([r])).toBe(
      '[{"agent":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\"\\\\\\n\\u0001","scope":["x:y:\\u003cz\\u003e"],"delegated_at":"t"}]',
    );
  });
  it("formats RFC3339Nano like Go", () => {
    expect(formatRfc3339Nano(new Date("2026-04-14T20:26:27.000Z"))).toBe("2026-04-14T20:26:27Z");
    expect(formatRfc3339Nano(new Date("2026-04-14T20:26:27.250Z"))).toBe("2026-04-14T20:26:27.25Z");
    expect(formatRfc3339Nano(new Date("2026-04-14T20:26:27.000Z"), 257796884)).toBe("2026-04-14T20:26:27.257796884Z");
  });
  it("the delegated-token fixture verifies locally, chain and hash included, inside its window", async () => {
    const guard = createGuard({ publicKey: PEM_PUBLIC, clockToleranceSec: 0 });
    const realNow = Date.now;
    Date.now = () => 2000000030 * 1000;
    try {
      const id = await guard.authenticate("Bearer " + FIXTURE_TOKEN);
      expect(id.agentId).toBe("spiffe://agentwrit.local/agent/orch-1/task-2/bbbbbbbbbbbbbbbb");
      expect(id.delegationDepth).toBe(1);
      expect(id.chainHash).toBe("b7b4f3d37c4000776ff0b708bff68d5db36f6e0639185e84ce60d0ad6a2fbb12");
      expect(id.taskId).toBe("task-1");
      guard.clearCache();
      Date.now = () => 2000000060 * 1000 + 999; // the second equal to exp is still valid
      await expect(guard.authenticate("Bearer " + FIXTURE_TOKEN)).resolves.toBeDefined();
      guard.clearCache();
      Date.now = () => 2000000061 * 1000;
      await expect(guard.authenticate("Bearer " + FIXTURE_TOKEN)).rejects.toMatchObject({ code: "token_expired" });
      guard.clearCache();
      Date.now = () => 1999999999 * 1000;
      await expect(guard.authenticate("Bearer " + FIXTURE_TOKEN)).rejects.toMatchObject({ code: "token_not_yet_valid" });
    } finally {
      Date.now = realNow;
    }
  });
});
