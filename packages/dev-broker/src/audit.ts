/** The hash-chained, in-memory audit log (`internal/audit`). */
import { createHash } from "node:crypto";
import type { Env } from "./clock.js";

/** The broker's audit event types. */
export type AuditEventType =
  | "admin_auth"
  | "admin_auth_failed"
  | "launch_token_issued"
  | "launch_token_denied"
  | "agent_registered"
  | "registration_policy_violation"
  | "token_issued"
  | "token_revoked"
  | "token_renewed"
  | "token_released"
  | "token_renewal_failed"
  | "delegation_created"
  | "resource_accessed"
  | "token_auth_failed"
  | "token_revoked_access"
  | "scope_violation"
  | "scope_ceiling_exceeded"
  | "delegation_attenuation_violation"
  | "scopes_ceiling_updated"
  | "app_registered"
  | "app_authenticated"
  | "app_auth_failed"
  | "app_updated"
  | "app_deregistered"
  | "app_rate_limited";

/** What a caller records. */
export interface AuditInput {
  readonly event_type: AuditEventType;
  readonly detail: string;
  readonly agent_id?: string | undefined;
  readonly task_id?: string | undefined;
  readonly orch_id?: string | undefined;
  readonly resource?: string | undefined;
  readonly outcome?: "success" | "denied" | undefined;
  readonly deleg_depth?: number | undefined;
  readonly deleg_chain_hash?: string | undefined;
  readonly bytes_transferred?: number | undefined;
}

/** A stored event; `timestampNs` is kept for `since`/`until` filtering. */
export interface AuditEvent extends AuditInput {
  readonly id: string;
  readonly timestamp: string;
  readonly timestampNs: bigint;
  readonly hash: string;
  readonly prev_hash: string;
}

const GENESIS = "0".repeat(64);

export class AuditLog {
  private readonly events: AuditEvent[] = [];
  private readonly counts = new Map<AuditEventType, number>();

  constructor(private readonly env: Env) {}

  record(input: AuditInput): AuditEvent {
    const prev = this.events.at(-1)?.hash ?? GENESIS;
    const id = "evt-" + String(this.events.length + 1).padStart(6, "0");
    const ns = this.env.nowNs();
    const timestamp = this.env.rfc3339Nano();
    const hashInput = [
      prev,
      id,
      timestamp,
      input.event_type,
      input.agent_id ?? "",
      input.task_id ?? "",
      input.orch_id ?? "",
      input.detail,
      input.resource ?? "",
      input.outcome ?? "",
      String(input.deleg_depth ?? 0),
      input.deleg_chain_hash ?? "",
      String(input.bytes_transferred ?? 0),
    ].join("|");
    const event: AuditEvent = {
      ...input,
      id,
      timestamp,
      timestampNs: ns,
      hash: createHash("sha256").update(hashInput, "utf8").digest("hex"),
      prev_hash: prev,
    };
    this.events.push(event);
    this.counts.set(input.event_type, (this.counts.get(input.event_type) ?? 0) + 1);
    return event;
  }

  get size(): number {
    return this.events.length;
  }

  all(): readonly AuditEvent[] {
    return this.events;
  }

  countsByType(): ReadonlyMap<AuditEventType, number> {
    return this.counts;
  }
}

/** The JSON shape of an event, in Go field order, empty optional fields omitted. */
export function auditEventJson(e: AuditEvent): Record<string, unknown> {
  const opt = (s: string | undefined): string | undefined => (s === "" ? undefined : s);
  const optNum = (n: number | undefined): number | undefined => (n === 0 ? undefined : n);
  return {
    id: e.id,
    timestamp: e.timestamp,
    event_type: e.event_type,
    agent_id: opt(e.agent_id),
    task_id: opt(e.task_id),
    orch_id: opt(e.orch_id),
    detail: e.detail,
    resource: opt(e.resource),
    outcome: opt(e.outcome),
    deleg_depth: optNum(e.deleg_depth),
    deleg_chain_hash: opt(e.deleg_chain_hash),
    bytes_transferred: optNum(e.bytes_transferred),
    hash: e.hash,
    prev_hash: e.prev_hash,
  };
}
