/** `POST /v1/delegate`: scope-attenuated delegation with broker-signed chain records. */
import { computeChainHash, delegationSigningInput, scopeIsSubset, type DelegationRecord } from "@agentwrit/guard";
import type { BrokerCore } from "../broker.js";
import { decodeBody } from "../go-json.js";
import { writeJson, writeProblem, type RequestContext } from "../http-context.js";
import { ed25519Sign } from "../keys.js";

/** Delegation chains hold at most this many records. */
export const MAX_DELEGATION_DEPTH = 5;
/** `ttl` ≤ 0 becomes this. */
export const DEFAULT_DELEGATION_TTL = 60;

export async function delegate(b: BrokerCore, ctx: RequestContext): Promise<void> {
  const c = ctx.claims;
  if (c === undefined) {
    writeProblem(ctx, 401, "unauthorized", "missing Bearer token");
    return;
  }
  let req;
  try {
    req = decodeBody(ctx.body, { delegate_to: "string", scope: "strings", ttl: "int" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const delegateTo = req.delegate_to ?? "";
  const scope = req.scope ?? [];
  // The broker's handler has no case for ErrMissingField: 500, not 400.
  if (delegateTo === "" || scope.length === 0) {
    writeProblem(ctx, 500, "internal_error", "delegation failed");
    return;
  }
  const chain = c.delegation_chain ?? [];
  if (chain.length >= MAX_DELEGATION_DEPTH) {
    writeProblem(ctx, 403, "scope_violation", "delegation depth limit exceeded");
    return;
  }
  const held = c.scope ?? [];
  if (!scopeIsSubset(scope, held)) {
    b.record({
      event_type: "delegation_attenuation_violation",
      detail: `delegated scope [${scope.join(" ")}] exceeds delegator scope [${held.join(" ")}]`,
      agent_id: c.sub,
      task_id: c.task_id,
      orch_id: c.orch_id,
      outcome: "denied",
      // The depth the refused delegation would have had.
      deleg_depth: chain.length + 1,
    });
    writeProblem(ctx, 403, "scope_violation", "delegated scope exceeds delegator scope");
    return;
  }
  if (!b.agents.has(delegateTo)) {
    writeProblem(ctx, 404, "not_found", "delegate agent not found");
    return;
  }
  const unsigned = { agent: c.sub, scope: [...held], delegated_at: b.env.rfc3339Nano("delegated_at") };
  const signature = ed25519Sign(b.keys.privateKey, delegationSigningInput(unsigned)).toString("hex");
  const newChain: DelegationRecord[] = [...chain, { ...unsigned, signature }];
  const chainHash = await computeChainHash(newChain);
  const ttl = req.ttl === undefined || req.ttl <= 0 ? DEFAULT_DELEGATION_TTL : req.ttl;
  const issued = b.issue({
    sub: delegateTo,
    scope,
    ttl,
    taskId: c.task_id,
    orchId: c.orch_id,
    aud: c.aud ?? [],
    delegationChain: newChain,
    chainHash,
  });
  b.record({
    event_type: "delegation_created",
    detail: `${c.sub} delegated [${scope.join(" ")}] to ${delegateTo}`,
    // The broker records the delegate, not the delegator, as the event's agent_id.
    agent_id: delegateTo,
    task_id: c.task_id,
    orch_id: c.orch_id,
    outcome: "success",
    deleg_depth: newChain.length,
    deleg_chain_hash: chainHash,
  });
  writeJson(ctx, 200, {
    access_token: issued.token,
    expires_in: issued.expiresIn,
    delegation_chain: newChain.map((r) => ({ agent: r.agent, scope: r.scope, delegated_at: r.delegated_at, signature: r.signature })),
  });
}
