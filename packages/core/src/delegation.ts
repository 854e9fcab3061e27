/**
 * Delegation policy over an AgentWrit `delegation_chain`: depth, attenuation along the chain,
 * allowed delegators, and (when the broker's key is known) record signatures and `chain_hash`.
 */
import type { AgentWritClaims } from "./claims.js";
import { computeChainHash, delegationSigningInput, type DelegationRecord } from "./delegation-record.js";
import { fromHex, timingSafeEqualString, utf8Encoder } from "./encoding.js";
import { describeValue, refuse } from "./refusal.js";
import { scopeIsSubset } from "./scope.js";

/** Decides whether a delegator may appear in a chain. */
export type DelegatorPredicate = (agent: string, index: number, record: DelegationRecord) => boolean;

/**
 * Allowed delegators: exact subjects, or prefixes written with a trailing `*`
 * (`spiffe://example.org/agent/orch-1/*`), or a predicate.
 */
export type AllowedDelegators = readonly string[] | DelegatorPredicate;

export interface DelegationPolicy {
  readonly maxDepth: number;
  readonly allowedDelegators: AllowedDelegators | undefined;
}

function delegatorAllowed(allowed: AllowedDelegators, record: DelegationRecord, index: number): boolean {
  if (typeof allowed === "function") return allowed(record.agent, index, record);
  return allowed.some((p) => (p.endsWith("*") ? record.agent.startsWith(p.slice(0, -1)) : record.agent === p));
}

/** The synchronous rules: depth, attenuation, allowed delegators. */
export function checkDelegationShape(claims: AgentWritClaims, policy: DelegationPolicy): void {
  const chain = claims.delegation_chain;
  if (chain === undefined) return;
  if (chain.length > policy.maxDepth) {
    refuse("delegation_too_deep", `the delegation chain has ${String(chain.length)} records; maxDelegationDepth is ${String(policy.maxDepth)}`);
  }
  let previous: DelegationRecord | undefined;
  chain.forEach((record, i) => {
    if (previous !== undefined && !scopeIsSubset(record.scope, previous.scope)) {
      refuse("delegation_widened", `delegation_chain[${String(i)}] (agent ${describeValue(record.agent)}) holds scope that delegation_chain[${String(i - 1)}] does not`);
    }
    previous = record;
  });
  if (previous !== undefined && !scopeIsSubset(claims.scope, previous.scope)) {
    refuse("delegation_widened", `the token's scope is wider than the last delegation record's (delegation_chain[${String(chain.length - 1)}])`);
  }
  const allowed = policy.allowedDelegators;
  if (allowed !== undefined) {
    chain.forEach((record, i) => {
      if (!delegatorAllowed(allowed, record, i)) {
        refuse("delegator_not_allowed", `delegation_chain[${String(i)}].agent ${describeValue(record.agent)} is not in allowedDelegators`);
      }
    });
  }
}

/**
 * Verifies each record's Ed25519 signature (hex, by the broker key) and the `chain_hash`.
 * The broker itself never checks either; a resource server holding the key can.
 */
export async function checkDelegationIntegrity(claims: AgentWritClaims, brokerKey: CryptoKey): Promise<void> {
  const chain = claims.delegation_chain;
  if (chain === undefined) return;
  const results = await Promise.all(
    chain.map(async (record) => {
      const sig = record.signature === undefined ? null : fromHex(record.signature);
      if (sig?.length !== 64) return false;
      return crypto.subtle.verify(
        "Ed25519",
        brokerKey,
        sig as Uint8Array<ArrayBuffer>,
        utf8Encoder.encode(delegationSigningInput(record)),
      ).catch(() => false);
    }),
  );
  const bad = results.indexOf(false);
  if (bad >= 0) {
    refuse("delegation_signature_invalid", `delegation_chain[${String(bad)}] (agent ${describeValue(chain[bad]?.agent)}) has a signature that does not verify with the broker key`);
  }
  const expected = await computeChainHash(chain);
  // Exactly the broker's text: lowercase hex.
  if (claims.chain_hash === undefined) refuse("chain_hash_mismatch", "the token has a delegation chain but no chain_hash");
  if (!timingSafeEqualString(expected, claims.chain_hash)) refuse("chain_hash_mismatch", "chain_hash is not the SHA-256 of the delegation chain: the chain was altered");
}
