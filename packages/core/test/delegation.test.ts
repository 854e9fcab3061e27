import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { computeChainHash, createGuard, delegationSigningInput, formatRfc3339Nano, type DelegationRecord } from "../src/index.js";
import { bearer, claims, makeKey, mint, type TestKey } from "./support/tokens.js";

const broker = makeKey();
const sub = (n: number) => `spiffe://agentwrit.local/agent/orch-1/task-1/${String(n).padStart(16, "0")}`;

function record(key: TestKey, agent: string, scope: string[], signature?: string): DelegationRecord {
  const delegated_at = formatRfc3339Nano(new Date(), 123456789);
  const r = { agent, scope, delegated_at };
  return { ...r, signature: signature ?? sign(null, Buffer.from(delegationSigningInput(r)), key.privateKey).toString("hex") };
}

async function delegated(chain: DelegationRecord[], scope: string[], hash?: string) {
  return mint(broker, claims({ sub: sub(99), scope, delegation_chain: chain, chain_hash: hash ?? (await computeChainHash(chain)) }));
}

describe("delegation policy", () => {
  const guard = createGuard({ publicKey: broker.jwk });

  it("accepts a narrowing chain with valid signatures and hash", async () => {
    const chain = [record(broker, sub(1), ["read:data:*", "write:data:*"]), record(broker, sub(2), ["read:data:*"])];
    const id = await guard.authenticate(bearer(await delegated(chain, ["read:data:customer-1"])));
    expect(id.delegationDepth).toBe(2);
    expect(id.delegationChain[0]!.agent).toBe(sub(1));
  });
  it("depth beyond maxDelegationDepth → delegation_too_deep", async () => {
    const chain = Array.from({ length: 6 }, (_, i) => record(broker, sub(i), ["read:data:*"]));
    await expect(guard.authenticate(bearer(await delegated(chain, ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_too_deep", status: 401 });
    const strict = createGuard({ publicKey: broker.jwk, maxDelegationDepth: 1 });
    await expect(strict.authenticate(bearer(await delegated(chain.slice(0, 2), ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_too_deep" });
    await expect(strict.authenticate(bearer(await delegated(chain.slice(0, 1), ["read:data:x"])))).resolves.toBeDefined();
  });
  it("widening along the chain, or a token wider than its last record → delegation_widened", async () => {
    const widening = [record(broker, sub(1), ["read:data:x"]), record(broker, sub(2), ["read:data:*"])];
    await expect(guard.authenticate(bearer(await delegated(widening, ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_widened" });
    const wideToken = [record(broker, sub(1), ["read:data:x"])];
    await expect(guard.authenticate(bearer(await delegated(wideToken, ["read:data:*"])))).rejects.toMatchObject({ code: "delegation_widened" });
  });
  it("a forged or missing record signature → delegation_signature_invalid", async () => {
    const attacker = makeKey();
    await expect(guard.authenticate(bearer(await delegated([record(attacker, sub(1), ["read:data:*"])], ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_signature_invalid" });
    const unsigned: DelegationRecord = { agent: sub(1), scope: ["read:data:*"], delegated_at: "2026-01-01T00:00:00Z" };
    await expect(guard.authenticate(bearer(await delegated([unsigned], ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_signature_invalid" });
    await expect(guard.authenticate(bearer(await delegated([record(broker, sub(1), ["read:data:*"], "zz")], ["read:data:x"])))).rejects.toMatchObject({ code: "delegation_signature_invalid" });
  });
  it("a tampered or missing chain_hash → chain_hash_mismatch", async () => {
    const chain = [record(broker, sub(1), ["read:data:*"])];
    await expect(guard.authenticate(bearer(await delegated(chain, ["read:data:x"], "0".repeat(64))))).rejects.toMatchObject({ code: "chain_hash_mismatch" });
    const noHash = await mint(broker, claims({ sub: sub(99), scope: ["read:data:x"], delegation_chain: chain }));
    await expect(guard.authenticate(bearer(noHash))).rejects.toMatchObject({ code: "chain_hash_mismatch" });
  });
  it("allowedDelegators as a list (with prefix patterns) or a predicate", async () => {
    const chain = [record(broker, sub(1), ["read:data:*"])];
    const t = await delegated(chain, ["read:data:x"]);
    await expect(createGuard({ publicKey: broker.jwk, allowedDelegators: [sub(1)] }).authenticate(bearer(t))).resolves.toBeDefined();
    await expect(createGuard({ publicKey: broker.jwk, allowedDelegators: ["spiffe://agentwrit.local/agent/orch-1/*"] }).authenticate(bearer(t))).resolves.toBeDefined();
    await expect(createGuard({ publicKey: broker.jwk, allowedDelegators: [sub(2)] }).authenticate(bearer(t))).rejects.toMatchObject({ code: "delegator_not_allowed" });
    await expect(createGuard({ publicKey: broker.jwk, allowedDelegators: (a) => a !== sub(1) }).authenticate(bearer(t))).rejects.toMatchObject({ code: "delegator_not_allowed" });
  });
});
