/** Unauthenticated routes: challenge, health, metrics and token validation. */
import { BROKER_VERSION, type BrokerCore } from "../broker.js";
import { claimsJson } from "../claims.js";
import { decodeBody } from "../go-json.js";
import { writeJson, writeProblem, writeRaw, type RequestContext } from "../http-context.js";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics.js";

/** `GET /v1/challenge`: a 64-hex single-use nonce valid for 30 s. */
export function challenge(b: BrokerCore, ctx: RequestContext): void {
  const nonce = b.env.randomHex("nonce", 32);
  b.nonces.add(nonce, b.env.nowSec());
  writeJson(ctx, 200, { nonce, expires_in: b.nonces.ttlSeconds });
}

/** `GET /v1/health`: always 200, never carries the public key. */
export function health(b: BrokerCore, ctx: RequestContext): void {
  writeJson(ctx, 200, {
    status: "ok",
    version: BROKER_VERSION,
    uptime: b.uptimeSeconds(),
    db_connected: true,
    audit_events_count: b.audit.size,
  });
}

/** `GET /v1/metrics`: Prometheus text. */
export function metrics(b: BrokerCore, ctx: RequestContext): void {
  b.metrics.set("agentwrit_active_agents", b.agents.size);
  writeRaw(ctx, 200, PROMETHEUS_CONTENT_TYPE, b.metrics.render());
}

/**
 * `POST /v1/token/validate`: 200 for every token-level outcome; no audience check; admin and
 * app tokens are valid too.
 */
export function validate(b: BrokerCore, ctx: RequestContext): void {
  b.stats.validateCalls++;
  let token: string | undefined;
  try {
    token = decodeBody(ctx.body, { token: "string" }).token;
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  if (token === undefined || token === "") {
    writeProblem(ctx, 400, "invalid_request", "token field is required");
    return;
  }
  const v = b.tokens.verify(token);
  if (!v.ok || b.revocations.isRevoked(v.claims)) {
    writeJson(ctx, 200, { valid: false, error: "token is invalid or expired" });
    return;
  }
  writeJson(ctx, 200, { valid: true, claims: claimsJson(v.claims) });
}
