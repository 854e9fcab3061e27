/** `POST /v1/admin/auth` and the launch-token routes (admin and app). */
import { scopeIsSubset } from "@agentwrit/guard";
import { ADMIN_SCOPES, secretMatches, type BrokerCore } from "../broker.js";
import { formatNs, NS_PER_S } from "../clock.js";
import { decodeBody, decodeStrict } from "../go-json.js";
import { writeJson, writeProblem, type RequestContext } from "../http-context.js";

const LEGACY_DETAIL = 'Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret';

/**
 * `POST /v1/admin/auth`: the admin secret (constant-time digest comparison) → admin token. The
 * whole body must be one JSON value (trailing data is a 400); `client_id` and `client_secret`
 * count as the legacy shape only when they are non-empty strings (`{"client_id":5}` is "secret
 * is required").
 */
export function adminAuth(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeStrict(ctx.body, { secret: "string", client_id: "anystring", client_secret: "anystring" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  if ((req.client_id ?? "") !== "" || (req.client_secret ?? "") !== "") {
    writeProblem(ctx, 400, "invalid_request", LEGACY_DETAIL);
    return;
  }
  const secret = req.secret ?? "";
  if (secret === "") {
    writeProblem(ctx, 400, "invalid_request", "secret is required");
    return;
  }
  if (!secretMatches(secret, b.adminSecretDigest)) {
    b.metrics.inc("agentwrit_admin_auth_total", "failure");
    b.record({ event_type: "admin_auth_failed", detail: "admin authentication failed", outcome: "denied" });
    writeProblem(ctx, 401, "unauthorized", "invalid credentials");
    return;
  }
  const issued = b.issue({ sub: "admin", scope: ADMIN_SCOPES, ttl: b.options.adminTokenTtl });
  b.metrics.inc("agentwrit_admin_auth_total", "success");
  b.record({ event_type: "admin_auth", detail: "admin authenticated", outcome: "success" });
  writeJson(ctx, 200, { access_token: issued.token, expires_in: issued.expiresIn, token_type: "Bearer" });
}

const LAUNCH_SCHEMA = {
  agent_name: "string",
  allowed_scope: "strings",
  max_ttl: "int",
  single_use: "bool",
  ttl: "int",
} as const;

/**
 * `POST /v1/admin/launch-tokens` and `POST /v1/app/launch-tokens` (one handler). An `app:` caller
 * is held to its app's ceiling; the app's status is not checked (as in the broker).
 */
export function createLaunchToken(b: BrokerCore, ctx: RequestContext): void {
  const sub = ctx.claims?.sub ?? "";
  // Every 400 on these routes is audited as launch_token_denied (no agent_id, as the broker writes it).
  const deny = (detail: string): void => {
    b.record({ event_type: "launch_token_denied", detail: `launch token denied for ${sub}: ${detail}`, outcome: "denied" });
    writeProblem(ctx, 400, "invalid_request", detail);
  };
  let req;
  try {
    req = decodeBody(ctx.body, LAUNCH_SCHEMA);
  } catch {
    deny("malformed JSON body");
    return;
  }
  const agentName = req.agent_name ?? "";
  if (agentName === "") {
    deny("agent_name is required");
    return;
  }
  const allowed = req.allowed_scope ?? [];
  if (allowed.length === 0) {
    deny("allowed_scope must not be empty");
    return;
  }
  let appId: string | undefined;
  if (sub.startsWith("app:")) {
    appId = sub.slice("app:".length);
    // Under write contention the broker's app lookup fails, and that reads as "app not found".
    const app = b.options.busy("app_launch_token") ? undefined : b.apps.get(appId);
    if (app === undefined) {
      writeProblem(ctx, 403, "forbidden", "app not found");
      return;
    }
    if (!scopeIsSubset(allowed, app.scopes)) {
      b.record({
        event_type: "scope_ceiling_exceeded",
        detail: `requested [${allowed.join(" ")}] exceeds app ceiling [${app.scopes.join(" ")}]`,
        agent_id: sub,
        outcome: "denied",
      });
      writeProblem(ctx, 403, "forbidden", `requested scopes exceed app ceiling; allowed: [${app.scopes.join(" ")}]`);
      return;
    }
  }
  const maxTtl = req.max_ttl === undefined || req.max_ttl <= 0 ? 300 : req.max_ttl;
  const ttl = req.ttl === undefined || req.ttl <= 0 ? 30 : req.ttl;
  const now = b.env.nowSec();
  const token = b.env.randomHex("launch_token", 32);
  b.launchTokens.add({
    token,
    agentName,
    allowedScope: [...allowed],
    maxTtl,
    singleUse: req.single_use ?? true,
    expiresAt: now + ttl,
    createdBy: sub,
    appId,
    consumed: false,
  });
  b.metrics.inc("agentwrit_launch_tokens_created_total");
  b.record({ event_type: "launch_token_issued", detail: `launch token issued for ${agentName} by ${sub}`, outcome: "success" });
  writeJson(ctx, 201, {
    launch_token: token,
    expires_at: formatNs(BigInt(now + ttl) * NS_PER_S),
    policy: { allowed_scope: allowed, max_ttl: maxTtl },
  });
}
