/** `POST /v1/revoke` (scope `admin:revoke:*`). */
import type { BrokerCore } from "../broker.js";
import { decodeBody } from "../go-json.js";
import { writeJson, writeProblem, type RequestContext } from "../http-context.js";
import { isRevocationLevel } from "../revocation.js";

export function revoke(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeBody(ctx.body, { level: "string", target: "string" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const level = req.level ?? "";
  const target = req.target ?? "";
  if (level === "" || target === "") {
    writeProblem(ctx, 400, "invalid_request", "level and target are required");
    return;
  }
  if (!isRevocationLevel(level)) {
    writeProblem(ctx, 400, "invalid_request", "invalid revocation level: " + level);
    return;
  }
  b.revoke(level, target);
  // The broker records the revocation target as the event's agent_id, whatever the level.
  b.record({ event_type: "token_revoked", detail: `revoked level=${level} target=${target} by ${ctx.claims?.sub ?? ""}`, agent_id: target, outcome: "success" });
  writeJson(ctx, 200, { revoked: true, level, target, count: 1 });
}
