/**
 * OpenTelemetry through the real SDK and its in-memory exporters: the decisions counter, the
 * broker duration histogram, cache lookups, one span per verification with the decision's
 * attributes, and never a token in anything exported. Without the API, the guard is unchanged.
 */
import * as api from "@opentelemetry/api";
import { context, metrics, trace } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, SimpleSpanProcessor, StackContextManager, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createGuard, GuardError, TELEMETRY, type DecisionEvent, type Guard, type GuardOptions } from "../src/index.js";
import { importOpenTelemetry } from "../src/telemetry.js";
import { json, payloadOf, startFakeBroker, type FakeBroker } from "./support/fake-broker.js";
import { bearer, claims, makeKey, mint, nowSec, signJws } from "./support/tokens.js";

const key = makeKey();
const attacker = makeKey();
let broker: FakeBroker;
/** Every token a test sends: none of their segments may appear in anything exported. */
const used: string[] = [];

let spans: InMemorySpanExporter;
let metricExporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let tracerProvider: TracerProvider;

async function token(overrides: Record<string, unknown> = {}): Promise<string> {
  const t = await mint(key, claims({ jti: crypto.randomUUID().replaceAll("-", ""), ...overrides }));
  used.push(t);
  return t;
}

function forged(): string {
  const t = signJws({ alg: "EdDSA", typ: "JWT", kid: key.kid }, claims({ jti: "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0" }), attacker.privateKey);
  used.push(t);
  return t;
}

async function settle<T>(p: Promise<T>): Promise<T | GuardError> {
  return p.catch((e: unknown) => {
    if (e instanceof GuardError) return e;
    throw e;
  });
}

/** Everything exported so far, metrics first, as the SDK hands it to an exporter. */
async function collect(): Promise<MetricData[]> {
  await reader.forceFlush();
  const exported = metricExporter.getMetrics();
  return exported.at(-1)?.scopeMetrics.flatMap((s) => s.metrics) ?? [];
}

function metric(all: readonly MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

/** The value of the data point whose attributes are exactly `attributes`. */
function valueOf(m: MetricData | undefined, attributes: Record<string, unknown>): unknown {
  const points = (m?.dataPoints ?? []) as DataPoint<unknown>[];
  return points.find((p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)))?.value;
}

function sorted(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

function verifySpans(): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.name === TELEMETRY.verifySpan);
}

/** A span as an exporter serializes it: name, kind, status, attributes, events, links, scope. */
function serializeSpan(s: ReadableSpan): string {
  return JSON.stringify({
    name: s.name,
    kind: s.kind,
    status: s.status,
    attributes: s.attributes,
    events: s.events,
    links: s.links,
    scope: s.instrumentationScope,
    resource: s.resource.attributes,
  });
}

beforeAll(async () => {
  context.setGlobalContextManager(new StackContextManager().enable());
  broker = await startFakeBroker((_req, res, t) => json(res, 200, { valid: true, claims: payloadOf(t ?? "") }));
});

afterAll(async () => {
  await broker.close();
  context.disable();
});

beforeEach(() => {
  spans = new InMemorySpanExporter();
  tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  meterProvider = new MeterProvider({ readers: [reader] });
  expect(trace.setGlobalTracerProvider(tracerProvider)).toBe(true);
  expect(metrics.setGlobalMeterProvider(meterProvider)).toBe(true);
});

afterEach(async () => {
  trace.disable();
  metrics.disable();
  await reader.forceFlush();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  // Nothing exported, in any test, carries any part of any token.
  expectNoTokenIn(exported(), used.splice(0));
});

/** Everything the exporters received, serialized. */
function exported(): string {
  return [JSON.stringify(metricExporter.getMetrics().map((r) => r.scopeMetrics)), ...spans.getFinishedSpans().map(serializeSpan)].join("\n");
}

function expectNoTokenIn(text: string, tokens: readonly string[]): void {
  for (const t of tokens) {
    for (const segment of t.split(".")) expect(text.includes(segment), "a token segment was exported").toBe(false);
  }
}

describe("decisions counter", () => {
  it("counts every decision by outcome, phase, code, source and mode", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const ok = await token({ scope: ["read:data:customer-42"] });
    await guard.verify(bearer(ok)); // local
    await guard.verify(bearer(ok)); // cache
    await guard.verify(bearer(ok), "read:data:customer-{id}", { id: "42" }); // cache, authorize
    expect(await settle(guard.verify(bearer(ok), "read:data:customer-{id}", { id: "43" }))).toMatchObject({ code: "insufficient_scope" });
    expect(await settle(guard.verify(bearer(forged())))).toMatchObject({ code: "invalid_signature" });
    expect(await settle(guard.verify(bearer(await token({ exp: nowSec() - 60 }))))).toMatchObject({ code: "token_expired" });
    expect(await settle(guard.verify(undefined))).toMatchObject({ code: "missing_token" });
    guard.authorize(await guard.authenticate(bearer(ok)), "read:data:customer-42"); // a decision of its own, no span

    const decisions = metric(await collect(), TELEMETRY.decisions);
    expect(decisions?.descriptor).toMatchObject({ unit: "{decision}" });
    expect(decisions?.dataPointType).toBe(DataPointType.SUM);
    const base = { "agentwrit.mode": "local" };
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "allow", "agentwrit.phase": "authenticate", "agentwrit.source": "local" })).toBe(1);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "allow", "agentwrit.phase": "authenticate", "agentwrit.source": "cache" })).toBe(2);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "allow", "agentwrit.phase": "authorize", "agentwrit.source": "cache" })).toBe(2);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "deny", "agentwrit.phase": "authorize", "agentwrit.source": "cache", "agentwrit.code": "insufficient_scope" })).toBe(1);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "deny", "agentwrit.phase": "authenticate", "agentwrit.code": "invalid_signature" })).toBe(1);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "deny", "agentwrit.phase": "authenticate", "agentwrit.code": "token_expired" })).toBe(1);
    expect(valueOf(decisions, { ...base, "agentwrit.outcome": "deny", "agentwrit.phase": "authenticate", "agentwrit.code": "missing_token" })).toBe(1);
    const total = (decisions?.dataPoints as DataPoint<number>[]).reduce((n, p) => n + p.value, 0);
    expect(total).toBe(9);
  });

  it("labels the mode and the broker as source", async () => {
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk });
    await guard.verify(bearer(await token()));
    const decisions = metric(await collect(), TELEMETRY.decisions);
    expect(valueOf(decisions, { "agentwrit.mode": "hybrid", "agentwrit.outcome": "allow", "agentwrit.phase": "authenticate", "agentwrit.source": "broker" })).toBe(1);
  });

  it("follows a meter provider registered after the guard was created", async () => {
    metrics.disable();
    const guard = createGuard({ publicKey: key.jwk });
    const ok = await token();
    await guard.verify(bearer(ok));
    expect(metrics.setGlobalMeterProvider(meterProvider)).toBe(true);
    await guard.verify(bearer(ok));
    const decisions = metric(await collect(), TELEMETRY.decisions);
    expect(valueOf(decisions, { "agentwrit.mode": "local", "agentwrit.outcome": "allow", "agentwrit.phase": "authenticate", "agentwrit.source": "cache" })).toBe(1);
    expect((decisions?.dataPoints ?? []).length).toBe(1);
  });
});

describe("cache lookups", () => {
  it("counts hits and misses of the verified-token cache", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const a = await token();
    const b = await token();
    await guard.verify(bearer(a)); // miss
    await guard.verify(bearer(a)); // hit (hot path)
    await guard.verify("bearer " + a); // hit (the full path: not exactly "Bearer ")
    await guard.verify(bearer(b)); // miss
    await guard.verify(bearer(b)); // hit
    await settle(guard.verify("Basic abc")); // never reaches the cache
    const lookups = metric(await collect(), TELEMETRY.cacheLookups);
    expect(lookups?.descriptor).toMatchObject({ unit: "{lookup}" });
    expect(valueOf(lookups, { "agentwrit.cache.result": "hit" })).toBe(3);
    expect(valueOf(lookups, { "agentwrit.cache.result": "miss" })).toBe(2);
  });

  it("a hybrid entry past maxStalenessSec is a miss", async () => {
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk, maxStalenessSec: 0 });
    const t = await token();
    await guard.verify(bearer(t));
    await guard.verify(bearer(t)); // the signature is cached, but the broker is asked again
    const lookups = metric(await collect(), TELEMETRY.cacheLookups);
    expect(valueOf(lookups, { "agentwrit.cache.result": "miss" })).toBe(2);
    expect(valueOf(lookups, { "agentwrit.cache.result": "hit" })).toBeUndefined();
  });
});

describe("broker duration", () => {
  it("records each validate call in seconds, by outcome and HTTP status", async () => {
    const guard = createGuard({ brokerUrl: broker.url, mode: "broker" });
    const answers: [number, unknown][] = [
      [200, "claims"],
      [200, { valid: false }],
      [400, { error: "bad request" }],
      [503, { error: "down" }],
      [404, "not found"],
    ];
    try {
      for (const [status, body] of answers) {
        broker.behaviour = (_req, res, t) => json(res, status, body === "claims" ? { valid: true, claims: payloadOf(t ?? "") } : body);
        await settle(guard.verify(bearer(await token())));
      }
      broker.behaviour = (req) => {
        req.socket.destroy();
      };
      expect(await settle(guard.verify(bearer(await token())))).toMatchObject({ code: "broker_unavailable" });
    } finally {
      broker.behaviour = (_req, res, t) => json(res, 200, { valid: true, claims: payloadOf(t ?? "") });
    }
    const duration = metric(await collect(), TELEMETRY.brokerDuration);
    expect(duration?.descriptor).toMatchObject({ unit: "s" });
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const point = (attributes: Record<string, unknown>): Histogram | undefined => valueOf(duration, attributes) as Histogram | undefined;
    for (const [outcome, status] of [["valid", 200], ["invalid", 200], ["rejected", 400], ["unavailable", 503], ["misconfigured", 404]] as const) {
      const h = point({ "agentwrit.broker.outcome": outcome, "http.response.status_code": status });
      expect(h?.count, outcome).toBe(1);
      expect(h?.sum).toBeGreaterThan(0);
      expect(h?.sum).toBeLessThan(2); // seconds, not milliseconds
    }
    expect(point({ "agentwrit.broker.outcome": "unavailable" })?.count).toBe(1); // no answer, no status
    // OpenTelemetry's buckets for HTTP durations, in seconds.
    expect(point({ "agentwrit.broker.outcome": "valid", "http.response.status_code": 200 })?.buckets.boundaries).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
  });

  it("one record per HTTP call: coalesced requests share one", async () => {
    const guard = createGuard({ brokerUrl: broker.url, mode: "broker" });
    const t = await token();
    await Promise.all(Array.from({ length: 5 }, () => guard.verify(bearer(t))));
    const h = valueOf(metric(await collect(), TELEMETRY.brokerDuration), { "agentwrit.broker.outcome": "valid", "http.response.status_code": 200 }) as Histogram;
    expect(h.count).toBe(guard.stats().brokerCalls);
  });
});

describe("spans", () => {
  it("one span per verify, with the decision's attributes", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const delegated = await token({ scope: ["read:data:customer-42", "write:data:order-7"] });
    await guard.verify(bearer(delegated), "write:data:order-{id}", { id: "7" }, { route: "POST /orders/:id" });
    const [allow] = verifySpans();
    expect(allow?.attributes).toEqual({
      "agentwrit.outcome": "allow",
      "agentwrit.phase": "authorize",
      "agentwrit.mode": "local",
      "agentwrit.source": "local",
      "agentwrit.route": "POST /orders/:id",
      "agentwrit.agent.id": claims().sub,
      "agentwrit.token.jti": expect.stringMatching(/^[0-9a-f]{32}$/) as unknown,
      "agentwrit.delegation.depth": 0,
      "agentwrit.scope.required": ["write:data:order-7"],
    });
    expect(allow?.status.code).toBe(api.SpanStatusCode.UNSET);
    expect(allow?.instrumentationScope.name).toBe("@agentwrit/guard");

    spans.reset();
    const denied = await settle(guard.verify(bearer(delegated), "write:data:order-{id}", { id: "8" }));
    expect(denied).toMatchObject({ code: "insufficient_scope" });
    const [deny] = verifySpans();
    expect(deny?.attributes).toMatchObject({
      "agentwrit.outcome": "deny",
      "agentwrit.phase": "authorize",
      "agentwrit.code": "insufficient_scope",
      "agentwrit.status": 403,
      "agentwrit.source": "cache",
      "agentwrit.reason": expect.stringContaining("write:data:order-8") as unknown,
      "agentwrit.scope.required": ["write:data:order-8"],
      "agentwrit.scope.missing": ["write:data:order-8"],
      "agentwrit.scope.missing_count": 1,
    });
    // A refusal is the guard doing its job: not an error of the span.
    expect(deny?.status.code).toBe(api.SpanStatusCode.UNSET);
    expect(deny?.attributes["error.type"]).toBeUndefined();

    spans.reset();
    await settle(guard.verify(bearer(forged())));
    expect(verifySpans()[0]?.attributes).toMatchObject({ "agentwrit.code": "invalid_signature", "agentwrit.status": 401 });
    expect(verifySpans()[0]?.attributes["agentwrit.agent.id"]).toBeUndefined();

    spans.reset();
    const identity = await guard.authenticate(bearer(delegated));
    guard.authorize(identity, "read:data:customer-42");
    expect(verifySpans()).toHaveLength(1); // authenticate is a verify; authorize alone is not
  });

  it("a 5xx is an ERROR span with error.type", async () => {
    broker.behaviour = (_req, res) => json(res, 502, { error: "bad gateway" });
    try {
      const guard = createGuard({ brokerUrl: broker.url, mode: "broker" });
      expect(await settle(guard.verify(bearer(await token())))).toMatchObject({ code: "broker_unavailable", status: 503 });
    } finally {
      broker.behaviour = (_req, res, t) => json(res, 200, { valid: true, claims: payloadOf(t ?? "") });
    }
    const [span] = verifySpans();
    expect(span?.status).toEqual({ code: api.SpanStatusCode.ERROR, message: "broker_unavailable" });
    expect(span?.attributes).toMatchObject({ "error.type": "broker_unavailable", "agentwrit.status": 503, "agentwrit.mode": "broker" });
    expect(span?.attributes["agentwrit.reason"]).toContain("HTTP 502");
  });

  it("is a child of the active span, timed from the start of the verification", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const t = await token();
    await guard.verify(bearer(t));
    spans.reset();
    const tracer = trace.getTracer("test");
    const parent = tracer.startSpan("request");
    const before = Date.now();
    await context.with(trace.setSpan(context.active(), parent), () => guard.verify(bearer(t)));
    parent.end();
    const [span] = verifySpans();
    expect(span?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span?.spanContext().traceId).toBe(parent.spanContext().traceId);
    const startMs = span!.startTime[0] * 1000 + span!.startTime[1] / 1e6;
    expect(Math.abs(startMs - before)).toBeLessThan(1000);
    expect(span!.duration[0] * 1e9 + span!.duration[1]).toBeGreaterThanOrEqual(0);
  });
});

describe("never a token", () => {
  it("no segment of any token in any exported span or metric, whatever the outcome", async () => {
    const hybrid = createGuard({ brokerUrl: broker.url, publicKey: key.jwk, audience: "orders" });
    const local = createGuard({ publicKey: key.jwk });
    const good = await token({ aud: ["orders"], scope: ["read:data:customer-42"] });
    const tokens = [good, forged(), await token({ aud: ["billing"] }), await token({ exp: nowSec() - 60 }), await token({ sub: "admin" })];
    for (const t of tokens) {
      for (const guard of [hybrid, local]) {
        await settle(guard.verify(bearer(t), "read:data:customer-{id}", { id: "42" }, { route: "GET /customers/:id" }));
        await settle(guard.verify(bearer(t), "write:data:order-7"));
        await settle(guard.verify("bearer  " + t));
        await settle(guard.verify(`Bearer ${t}, Bearer ${t}`));
      }
    }
    broker.behaviour = (_req, res) => json(res, 503, { error: "down" });
    try {
      await settle(hybrid.verify(bearer(await token({ aud: ["orders"] }))));
    } finally {
      broker.behaviour = (_req, res, t) => json(res, 200, { valid: true, claims: payloadOf(t ?? "") });
    }
    await reader.forceFlush();
    const text = exported();
    // Not vacuous: every instrument and many spans were exported, with reasons and scopes.
    for (const name of [TELEMETRY.decisions, TELEMETRY.cacheLookups, TELEMETRY.brokerDuration, "agentwrit.reason", "write:data:order-7"]) expect(text).toContain(name);
    expect(verifySpans().length).toBeGreaterThanOrEqual(40);
    expectNoTokenIn(text, used);
    expect(text).not.toMatch(/Bearer [A-Za-z0-9_-]{20}/);
  });
});

describe("enabling and disabling", () => {
  it("telemetry: { api } uses the API given; telemetry: false records nothing and decides the same", async () => {
    const given = createGuard({ publicKey: key.jwk, telemetry: { api } });
    const off = createGuard({ publicKey: key.jwk, telemetry: false });
    const t = await token();
    const events: DecisionEvent[] = [];
    const offObserved = createGuard({ publicKey: key.jwk, telemetry: false, onDecision: (e) => events.push(e) });
    await given.verify(bearer(t));
    expect(verifySpans()).toHaveLength(1);
    spans.reset();
    for (const guard of [off, offObserved]) {
      expect((await guard.verify(bearer(t))).source).toBe("local");
      expect((await guard.verify(bearer(t))).source).toBe("cache");
      expect(await settle(guard.verify(bearer(forged())))).toMatchObject({ code: "invalid_signature" });
    }
    expect(events.map((e) => e.code ?? e.source)).toEqual(["local", "cache", "invalid_signature"]);
    expect(verifySpans()).toHaveLength(0);
    const decisions = metric(await collect(), TELEMETRY.decisions);
    expect(decisions?.dataPoints.reduce((n, p) => n + (p.value as number), 0)).toBe(1);
  });

  it("bad telemetry options are TypeErrors at creation", () => {
    const bad = (telemetry: unknown) => () => createGuard({ publicKey: key.jwk, telemetry } as GuardOptions);
    expect(bad("on")).toThrow(/telemetry must be a boolean or \{ api \}/);
    expect(bad({ api: {} })).toThrow(/telemetry.api must be @opentelemetry\/api/);
    expect(bad({ meterProvider: meterProvider })).toThrow(/unknown option "meterProvider"/);
    expect(() => createGuard({ publicKey: key.jwk, telemetry: true })).not.toThrow();
  });

  it("a failing SDK never changes a decision", async () => {
    const broken = {
      metrics: { getMeterProvider: () => ({ getMeter: () => { throw new Error("meter down"); } }) },
      trace: { getTracerProvider: () => ({ getTracer: () => { throw new Error("tracer down"); } }) },
    };
    const guard = createGuard({ brokerUrl: broker.url, publicKey: key.jwk, telemetry: { api: broken } });
    const t = await token();
    expect((await guard.verify(bearer(t))).source).toBe("broker");
    expect(await settle(guard.verify(bearer(forged())))).toMatchObject({ code: "invalid_signature" });
  });
});

describe("without @opentelemetry/api", () => {
  it("a specifier that cannot be imported gives undefined, not a rejection", async () => {
    await expect(importOpenTelemetry("@opentelemetry/not-installed-" + String(Date.now()))).resolves.toBeUndefined();
    expect(await importOpenTelemetry()).toBeDefined();
  });

  it("the guard works unchanged and records nothing when the import fails", async () => {
    vi.resetModules();
    vi.doMock("@opentelemetry/api", () => {
      throw new Error("Cannot find package '@opentelemetry/api'");
    });
    try {
      const fresh = await import("../src/index.js");
      const guard: Guard = fresh.createGuard({ publicKey: key.jwk });
      const t = await token();
      expect((await guard.verify(bearer(t))).source).toBe("local");
      expect((await guard.verify(bearer(t), "read:data:customer-42")).source).toBe("cache");
      const e = await guard.verify(bearer(forged())).catch((x: unknown) => x);
      expect((e as { code?: unknown }).code).toBe("invalid_signature");
      expect(verifySpans()).toHaveLength(0);
      expect(metric(await collect(), TELEMETRY.decisions)).toBeUndefined();
    } finally {
      vi.doUnmock("@opentelemetry/api");
      vi.resetModules();
    }
  });
});
