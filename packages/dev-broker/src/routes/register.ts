/** `POST /v1/register`: launch token + signed challenge → agent identity and token. */
import { scopeIsSubset } from "@agentwrit/guard";
import { decodeStdGo } from "../base64.js";
import type { BrokerCore } from "../broker.js";
import { decodeBody } from "../go-json.js";
import { writeJson, writeProblem, type RequestContext } from "../http-context.js";
import { ed25519Verify, publicKeyFromRaw } from "../keys.js";

const SCHEMA = {
  launch_token: "string",
  nonce: "string",
  public_key: "string",
  signature: "string",
  orch_id: "string",
  task_id: "string",
  requested_scope: "strings",
} as const;

const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** go-spiffe's rules for a path segment. */
function validSegment(s: string): boolean {
  return SPIFFE_SEGMENT.test(s) && s !== "." && s !== "..";
}

/** `spiffe://<td>/agent/<orch>/<task>/<instance>`, or null where go-spiffe would refuse it. */
export function buildSpiffeId(trustDomain: string, orchId: string, taskId: string, instance: string): string | null {
  if (!TRUST_DOMAIN.test(trustDomain)) return null;
  if (![orchId, taskId, instance].every(validSegment)) return null;
  return `spiffe://${trustDomain}/agent/${orchId}/${taskId}/${instance}`;
}

/** The bytes the agent signs: the hex-decoded nonce, or the raw string if it is not hex. */
function nonceBytes(nonce: string): Buffer {
  return nonce.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(nonce) ? Buffer.from(nonce, "hex") : Buffer.from(nonce, "utf8");
}

export function register(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeBody(ctx.body, SCHEMA);
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const { launch_token, nonce, public_key, signature, orch_id, task_id } = req;
  if (!launch_token || !nonce || !public_key || !signature || !orch_id || !task_id) {
    writeProblem(ctx, 400, "invalid_request", "missing required field");
    return;
  }
  const requested = req.requested_scope ?? [];
  if (requested.length === 0) {
    writeProblem(ctx, 400, "invalid_request", "missing required field: requested_scope");
    return;
  }
  const now = b.env.nowSec();
  const fail = (status: 401 | 403 | 500, detail: string): void => {
    b.metrics.inc("agentwrit_registrations_total", "failure");
    writeProblem(ctx, status, status === 401 ? "unauthorized" : status === 403 ? "scope_violation" : "internal_error", detail);
  };

  // 2. launch-token lookup; 3. scope check (nothing consumed yet).
  const lt = b.launchTokens.lookup(launch_token, now);
  if (typeof lt === "string") {
    fail(401, "launch token: " + lt);
    return;
  }
  if (!scopeIsSubset(requested, lt.allowedScope)) {
    b.record({
      event_type: "registration_policy_violation",
      detail: `requested scope exceeds allowed scope: requested=[${requested.join(" ")}] allowed=[${lt.allowedScope.join(" ")}]`,
      orch_id,
      task_id,
      outcome: "denied",
    });
    fail(403, "requested scope exceeds allowed scope");
    return;
  }
  // 4. nonce consumed; 5. public key; 6. signature.
  const nonceErr = b.nonces.consume(nonce, now);
  if (nonceErr !== null) {
    fail(401, "nonce: " + nonceErr);
    return;
  }
  const raw = decodeStdGo(public_key);
  if (raw === null) {
    fail(401, "invalid Ed25519 public key: base64 decode failed");
    return;
  }
  if (raw.length !== 32) {
    fail(401, "invalid Ed25519 public key: wrong key size");
    return;
  }
  const sig = decodeStdGo(signature);
  if (sig === null) {
    fail(401, "nonce signature verification failed: base64 decode failed");
    return;
  }
  const publicKey = publicKeyFromRaw(raw);
  if (!ed25519Verify(publicKey, nonceBytes(nonce), sig)) {
    fail(401, "nonce signature verification failed");
    return;
  }
  // 7. single-use launch token consumed; 8. SPIFFE ID; 9. token; 10. agent record.
  const consumeErr = b.launchTokens.consume(lt);
  if (consumeErr !== null) {
    fail(401, "consume launch token: " + consumeErr);
    return;
  }
  const agentId = buildSpiffeId(b.options.trustDomain, orch_id, task_id, b.env.randomHex("agent_instance", 8));
  if (agentId === null) {
    fail(500, "registration failed");
    return;
  }
  const issued = b.issue({ sub: agentId, scope: requested, ttl: lt.maxTtl, taskId: task_id, orchId: orch_id });
  b.agents.set(agentId, {
    agentId,
    orchId: orch_id,
    taskId: task_id,
    scope: requested,
    publicKey,
    appId: lt.appId,
    registeredAt: b.env.rfc3339(),
  });
  b.metrics.inc("agentwrit_registrations_total", "success");
  b.metrics.set("agentwrit_active_agents", b.agents.size);
  b.record({ event_type: "agent_registered", detail: `agent registered with scope [${requested.join(" ")}]`, agent_id: agentId, task_id, orch_id, outcome: "success" });
  b.record({ event_type: "token_issued", detail: `token issued, jti=${issued.claims.jti}`, agent_id: agentId, task_id, orch_id, outcome: "success" });
  writeJson(ctx, 200, { agent_id: agentId, access_token: issued.token, expires_in: issued.expiresIn });
}
