/** Bearer routes that act on the caller's own token: renew and release. */
import type { BrokerCore } from "../broker.js";
import { writeJson, writeNoContent, writeProblem, type RequestContext } from "../http-context.js";

/**
 * `POST /v1/token/renew`: revokes the predecessor first, then reissues with the original TTL.
 * That revocation is not counted in `agentwrit_tokens_revoked_total` (as in the broker).
 */
export function renew(b: BrokerCore, ctx: RequestContext): void {
  const token = ctx.token ?? "";
  const c = ctx.claims;
  if (token === "" || c === undefined) {
    writeProblem(ctx, 401, "unauthorized", "missing Bearer token");
    return;
  }
  const issued = b.tokens.renew(token);
  if (issued === null) {
    b.record({ event_type: "token_renewal_failed", detail: "token renewal failed", agent_id: c.sub, task_id: c.task_id, orch_id: c.orch_id, outcome: "denied" });
    writeProblem(ctx, 401, "unauthorized", "token renewal failed");
    return;
  }
  // The predecessor's revocation is not counted in tokens_revoked_total: only explicit ones are.
  b.metrics.inc("agentwrit_tokens_issued_total", issued.claims.scope?.[0] ?? "");
  b.record({
    event_type: "token_renewed",
    detail: `token renewed, old jti=${c.jti} new jti=${issued.claims.jti}`,
    agent_id: c.sub,
    task_id: c.task_id,
    orch_id: c.orch_id,
    outcome: "success",
  });
  writeJson(ctx, 200, { access_token: issued.token, expires_in: issued.expiresIn });
}

/** `POST /v1/token/release`: self-revocation of the caller's jti; 204. */
export function release(b: BrokerCore, ctx: RequestContext): void {
  const c = ctx.claims;
  if (c === undefined) {
    writeProblem(ctx, 401, "unauthorized", "missing Bearer token");
    return;
  }
  b.revoke("token", c.jti, "release");
  b.record({ event_type: "token_released", detail: `token released, jti=${c.jti}`, agent_id: c.sub, task_id: c.task_id, orch_id: c.orch_id, outcome: "success" });
  writeNoContent(ctx);
}
