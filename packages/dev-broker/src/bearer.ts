/** `ValMw.Wrap` and `ValMw.RequireScope`, in the broker's order (B.4). */
import { scopeIsSubset } from "@agentwrit/guard";
import type { BrokerCore } from "./broker.js";
import type { TokenClaims } from "./claims.js";
import { writeProblem, type RequestContext } from "./http-context.js";

/**
 * Authenticates the Bearer token; on failure writes the problem and returns false. Revoked
 * tokens fail inside `Verify`, so they get 401 "token verification failed" as in production.
 */
export function authenticateBearer(b: BrokerCore, ctx: RequestContext): boolean {
  const deny = (detail: string, status = 401, code: "unauthorized" | "insufficient_scope" = "unauthorized", who?: TokenClaims): false => {
    b.record({
      event_type: code === "unauthorized" ? "token_auth_failed" : "token_revoked_access",
      detail,
      agent_id: who?.sub,
      task_id: who?.task_id,
      orch_id: who?.orch_id,
      resource: ctx.path,
      outcome: "denied",
    });
    writeProblem(ctx, status, code, detail);
    return false;
  };
  const header = ctx.req.headers.authorization;
  if (header === undefined || header === "") return deny("missing authorization header");
  if (!header.startsWith("Bearer ")) return deny("invalid authorization scheme");
  const token = header.slice("Bearer ".length);
  const v = b.tokens.verify(token);
  if (!v.ok) return deny("token verification failed");
  // Step 4 of ValMw (a second revocation check) cannot fire: Verify already checked it.
  if (b.revocations.isRevoked(v.claims)) return deny("token has been revoked", 403, "insufficient_scope");
  const audience = b.options.audience;
  // A verified token that fails only the audience check is audited with its identity.
  if (audience !== "" && !(v.claims.aud ?? []).includes(audience)) return deny("token audience mismatch", 401, "unauthorized", v.claims);
  ctx.claims = v.claims;
  ctx.token = token;
  return true;
}

/** `RequireScope(scope)`: 403 `insufficient_scope` when the token's scope does not cover it. */
export function requireScope(b: BrokerCore, ctx: RequestContext, scope: string): boolean {
  const held = ctx.claims?.scope ?? [];
  if (scopeIsSubset([scope], held)) return true;
  const detail = "token lacks required scope: " + scope;
  b.record({
    event_type: "scope_violation",
    detail,
    agent_id: ctx.claims?.sub,
    task_id: ctx.claims?.task_id,
    orch_id: ctx.claims?.orch_id,
    resource: ctx.path,
    outcome: "denied",
  });
  writeProblem(ctx, 403, "insufficient_scope", detail);
  return false;
}
