/** `GET /v1/audit/events` (scope `admin:audit:*`): filters and paging over the in-memory log. */
import { auditEventJson } from "../audit.js";
import type { BrokerCore } from "../broker.js";
import { writeJson, type RequestContext } from "../http-context.js";

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Parses RFC 3339 (fraction optional) to nanoseconds since the epoch; null when unparsable. */
export function parseRfc3339Ns(s: string): bigint | null {
  const m = RFC3339.exec(s);
  if (m === null) return null;
  const ms = Date.parse((m[1] ?? "") + (m[3] ?? "Z"));
  if (Number.isNaN(ms)) return null;
  const frac = BigInt(((m[2] ?? ".").slice(1) + "000000000").slice(0, 9));
  return BigInt(ms) * 1_000_000n + frac;
}

/** Go's `strconv.Atoi`, 0 when unparsable. */
function atoi(s: string | null): number {
  if (s === null || !/^[+-]?\d+$/.test(s)) return 0;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : 0;
}

export function auditEvents(b: BrokerCore, ctx: RequestContext): void {
  const q = ctx.query;
  const exact: [string, "agent_id" | "task_id" | "event_type" | "outcome"][] = [
    ["agent_id", "agent_id"],
    ["task_id", "task_id"],
    ["event_type", "event_type"],
    ["outcome", "outcome"],
  ];
  const since = parseRfc3339Ns(q.get("since") ?? "");
  const until = parseRfc3339Ns(q.get("until") ?? "");
  const matches = b.audit.all().filter((e) => {
    for (const [param, field] of exact) {
      const want = q.get(param);
      if (want !== null && want !== "" && (e[field] ?? "") !== want) return false;
    }
    if (since !== null && e.timestampNs < since) return false;
    if (until !== null && e.timestampNs > until) return false;
    return true;
  });
  let limit = atoi(q.get("limit"));
  if (limit <= 0) limit = 100;
  const effective = Math.min(limit, 1000);
  // The requested offset is echoed as given (-3 stays -3); paging starts at 0 when it is negative.
  const offset = atoi(q.get("offset"));
  const from = Math.max(0, offset);
  writeJson(ctx, 200, {
    events: matches.slice(from, from + effective).map(auditEventJson),
    total: matches.length,
    offset,
    limit,
  });
}
