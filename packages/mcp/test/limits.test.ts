/**
 * Limits before any per-call work. Work is counted, not timed: the guard is wrapped so that every
 * `authorize` (one decision, one event) and every `error` (one GuardError) the gate asks for is
 * counted, and decision events are counted through `onDecision`.
 */
import { createGuard, type DecisionEvent, type Guard } from "@agentwrit/guard";
import type { DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createMcpGate, type McpGate } from "../src/index.js";
import { broker, challenge, METADATA_URL, RESOURCE, toolCall } from "./support.js";

let b: DevBroker;
let reader: string;
const events: DecisionEvent[] = [];
const calls = { authorize: 0, error: 0 };
let guard: Guard;

/** The guard, with every authorize and error call counted. */
function counted(g: Guard): Guard {
  return new Proxy(g, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]): unknown => {
        if (prop === "authorize" || prop === "error") calls[prop]++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const TOOLS = { get_patient_record: "read:records:patient-{patientId}", many: Array.from({ length: 40 }, (_, i) => `read:records:patient-{patientId}-${String(i)}`) };

beforeAll(async () => {
  b = await broker();
  guard = createGuard({ publicKey: b.publicKeyPem, audience: RESOURCE, resourceMetadataUrl: METADATA_URL, onDecision: (e) => void events.push(e) });
  reader = "Bearer " + (await b.createAgent({ orchId: "o", taskId: "reader", scope: ["read:records:patient-42"] })).accessToken;
});
afterAll(async () => {
  await b.close();
});
beforeEach(() => {
  events.length = 0;
  calls.authorize = 0;
  calls.error = 0;
});

function gateWith(options: Partial<Parameters<typeof createMcpGate>[0]> = {}): McpGate {
  return createMcpGate({ guard: counted(guard), tools: TOOLS, resource: RESOURCE, ...options });
}

const authorizeEvents = (): DecisionEvent[] => events.filter((e) => e.phase === "authorize");

describe("maxBatchSize", () => {
  it("refuses a 4 MiB batch of 60,000 tools/call with a JSON-RPC 400 before checking any call", async () => {
    const gate = gateWith();
    const batch = Array.from({ length: 60_000 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "get_patient_record", arguments: { patientId: "43" } } }));
    expect(JSON.stringify(batch).length).toBeGreaterThan(4 * 1024 * 1024 - 200_000);
    const r = await gate.check(reader, batch, "POST");
    expect(r.ok ? 200 : r.response.status).toBe(400);
    expect(r.ok ? undefined : JSON.parse(r.response.body)).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request: Batch must not exceed 100 messages" }, id: null });
    expect(calls).toEqual({ authorize: 0, error: 0 });
    expect(authorizeEvents()).toEqual([]);
  });

  it("checks a batch of exactly maxBatchSize; refuses one more; the option is honoured", async () => {
    const gate = gateWith();
    const ok = Array.from({ length: 100 }, () => toolCall("get_patient_record", { patientId: "42" }));
    expect((await gate.check(reader, ok, "POST")).ok).toBe(true);
    const over = await gate.check(reader, [...ok, toolCall("get_patient_record", { patientId: "42" })], "POST");
    expect(over.ok ? 200 : over.response.status).toBe(400);
    const small = gateWith({ maxBatchSize: 2 });
    const three = await small.check(reader, ok.slice(0, 3), "POST");
    expect(three.ok ? 200 : three.response.status).toBe(400);
  });

  it("builds one error for a batch of 100 refused calls, not one per call", async () => {
    const gate = gateWith();
    const batch = Array.from({ length: 100 }, (_, i) => toolCall("get_patient_record", { patientId: String(100 + i) }));
    const r = await gate.check(reader, batch, "POST");
    expect(r.ok ? 200 : r.response.status).toBe(403);
    // The first refusal goes through the guard (one decision event); the other 99 are only
    // evaluated for their missing scopes; one error answers the request.
    expect(calls.authorize).toBe(1);
    expect(calls.error).toBe(1);
    expect(authorizeEvents()).toHaveLength(1);
    expect(r.ok ? undefined : JSON.parse(r.response.body)).toMatchObject({ code: "insufficient_scope", missing_count: 100 });
  });
});

describe("maxParamLength", () => {
  it("refuses a 64 KiB argument with 400 before any scope work, even after allowed calls in the batch", async () => {
    const gate = gateWith();
    const batch = [...Array.from({ length: 5 }, () => toolCall("get_patient_record", { patientId: "42" })), toolCall("get_patient_record", { patientId: "4".repeat(65536) })];
    const r = await gate.check(reader, batch, "POST");
    expect(r.ok ? 200 : r.response.status).toBe(400);
    expect(r.ok ? undefined : JSON.parse(r.response.body)).toMatchObject({ code: "invalid_parameter" });
    expect(challenge(r.ok ? undefined : r.response.headers["WWW-Authenticate"]).error).toBe("invalid_request");
    // No allowed call was decided first: the one decision is the refusal.
    expect(authorizeEvents().map((e) => [e.outcome, e.code])).toEqual([["deny", "invalid_parameter"]]);
    expect(authorizeEvents()[0]?.reason).toMatch(/over maxParamLength \(256\)/);
  });

  it("applies the gate's maxParamLength, also to a guard given as is, and passes it to a guard it builds", async () => {
    const value = "4".repeat(300);
    const strict = gateWith({ maxParamLength: 8 });
    const r = await strict.check(reader, toolCall("get_patient_record", { patientId: "123456789" }), "POST");
    expect(r.ok ? 200 : r.response.status).toBe(400);
    const id = await guard.authenticate(reader);
    expect(() => {
      strict.authorizeCall(id, "get_patient_record", { patientId: "123456789" });
    }).toThrow(expect.objectContaining({ code: "invalid_parameter" }) as Error);
    const built = createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE }, tools: TOOLS, maxParamLength: 512 });
    const wide = "Bearer " + (await b.createAgent({ orchId: "o", taskId: "wide", scope: ["read:records:*"] })).accessToken;
    expect((await built.check(wide, toolCall("get_patient_record", { patientId: value }), "POST")).ok).toBe(true);
    expect(() => createMcpGate({ guard: { publicKey: b.publicKeyPem, resource: RESOURCE, maxParamLength: 100 }, tools: TOOLS, maxParamLength: 512 })).toThrow(/give it once/);
  });

  it("keeps the limit of a guard given as is when the gate sets none (never refuses what its guard accepts)", async () => {
    const lenient = createGuard({ publicKey: b.publicKeyPem, audience: RESOURCE, resourceMetadataUrl: METADATA_URL, maxParamLength: 1024 });
    const gate = createMcpGate({ guard: lenient, tools: TOOLS, resource: RESOURCE });
    const wide = "Bearer " + (await b.createAgent({ orchId: "o", taskId: "lenient", scope: ["read:records:*"] })).accessToken;
    expect((await gate.check(wide, toolCall("get_patient_record", { patientId: "4".repeat(300) }), "POST")).ok).toBe(true);
    const over = await gate.check(wide, toolCall("get_patient_record", { patientId: "4".repeat(1025) }), "POST");
    expect(over.ok ? 200 : over.response.status).toBe(400);
  });
});

describe("maxChallengeScopes", () => {
  it("names at most 16 scopes in a challenge under 4 KiB, and says how many were missing", async () => {
    const gate = gateWith();
    const r = await gate.check(reader, toolCall("many", { patientId: "7".repeat(200) }), "POST");
    expect(r.ok ? 200 : r.response.status).toBe(403);
    if (r.ok) return;
    const header = r.response.headers["WWW-Authenticate"] ?? "";
    expect(header.length).toBeLessThan(4096);
    const named = challenge(header).scope?.split(" ") ?? [];
    expect(named.length).toBeGreaterThan(0);
    expect(named.length).toBeLessThanOrEqual(16);
    expect(JSON.parse(r.response.body)).toMatchObject({ missing_count: 40 });
  });

  it("applies the gate's maxChallengeScopes to a guard given as is", async () => {
    const gate = gateWith({ maxChallengeScopes: 3 });
    const r = await gate.check(reader, toolCall("many", { patientId: "7" }), "POST");
    if (r.ok) throw new Error("allowed");
    expect(challenge(r.response.headers["WWW-Authenticate"]).scope?.split(" ")).toHaveLength(3);
    expect(challenge(r.response.headers["WWW-Authenticate"]).resource_metadata).toBe(METADATA_URL);
    expect(JSON.parse(r.response.body)).toMatchObject({ missing_count: 40, scope: expect.any(Array) as unknown });
  });
});
