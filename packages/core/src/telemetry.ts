/**
 * OpenTelemetry metrics and spans through `@opentelemetry/api`, an optional peer dependency: found
 * once by a dynamic import when a guard is created, or passed as `telemetry: { api }`. Without it
 * every hook is a no-op. Nothing here imports the API statically (only structural types below), so
 * a bundle for Workers or a browser builds and runs without it.
 *
 * Never a token: attributes come from the decision event (codes, reasons, ids, scopes) and from the
 * broker's HTTP status. A failing SDK or exporter never changes a decision.
 */
import type { BrokerVerdict } from "./broker.js";
import type { DecisionEvent } from "./options.js";
import { Refusal } from "./refusal.js";

/** Names of everything the guard records, for dashboards and tests. */
export const TELEMETRY = Object.freeze({
  /** Instrumentation scope (meter and tracer name). */
  scope: "@agentwrit/guard",
  /** Counter, `{decision}`: one per decision. */
  decisions: "agentwrit.guard.decisions",
  /** Histogram, seconds: one per `POST /v1/token/validate`. */
  brokerDuration: "agentwrit.guard.broker.duration",
  /** Counter, `{lookup}`: one per lookup of the verified-token cache, `agentwrit.cache.result` hit or miss. */
  cacheLookups: "agentwrit.guard.cache.lookups",
  /** Span: one per `verify` (and so per `authenticate`). */
  verifySpan: "agentwrit.guard.verify",
});

type AttributeValue = string | number | boolean | string[];
type Attributes = Record<string, AttributeValue | undefined>;

interface CounterLike {
  add(value: number, attributes?: Attributes): void;
}
interface HistogramLike {
  record(value: number, attributes?: Attributes): void;
}
interface MeterLike {
  createCounter(name: string, options?: { description?: string; unit?: string }): CounterLike;
  createHistogram(
    name: string,
    options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } },
  ): HistogramLike;
}
interface SpanLike {
  isRecording(): boolean;
  setAttributes(attributes: Attributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(endTime?: number): void;
}
interface TracerLike {
  startSpan(name: string, options?: { startTime?: number }): SpanLike;
}

/**
 * The part of `@opentelemetry/api` the guard uses: `import * as api from "@opentelemetry/api"`
 * fits it. Spans are children of the active span (the SDK reads the active context itself).
 */
export interface OpenTelemetryApi {
  readonly metrics: { getMeterProvider(): { getMeter(name: string): MeterLike } };
  readonly trace: { getTracerProvider(): { getTracer(name: string): TracerLike } };
}

/** `telemetry` option: `false` turns it off; `api` passes the API where a dynamic import cannot find it. */
export interface TelemetryOptions {
  /** `@opentelemetry/api` itself, for bundles (Workers, browsers) where the guard cannot import it. */
  readonly api?: OpenTelemetryApi | undefined;
}

const API_SPECIFIER = "@opentelemetry/api";
let shared: Promise<OpenTelemetryApi | undefined> | undefined;

export function isOpenTelemetryApi(x: unknown): x is OpenTelemetryApi {
  const o = x as { metrics?: { getMeterProvider?: unknown }; trace?: { getTracerProvider?: unknown } } | null | undefined;
  return typeof o?.metrics?.getMeterProvider === "function" && typeof o.trace?.getTracerProvider === "function";
}

/**
 * `@opentelemetry/api` if the application can import it, else `undefined` (never a rejection).
 * The specifier is not a literal, so bundlers leave the import alone instead of failing on it.
 */
export function importOpenTelemetry(specifier: string = API_SPECIFIER): Promise<OpenTelemetryApi | undefined> {
  if (specifier === API_SPECIFIER && shared !== undefined) return shared;
  const found = (async (): Promise<OpenTelemetryApi | undefined> => {
    try {
      const m: unknown = await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
      if (isOpenTelemetryApi(m)) return m;
      const d: unknown = (m as { default?: unknown }).default;
      return isOpenTelemetryApi(d) ? d : undefined;
    } catch {
      return undefined;
    }
  })();
  if (specifier === API_SPECIFIER) shared = found;
  return found;
}

/** OpenTelemetry's recommended buckets for HTTP durations, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const HIT: Attributes = Object.freeze({ "agentwrit.cache.result": "hit" });
const MISS: Attributes = Object.freeze({ "agentwrit.cache.result": "miss" });
/** `SpanStatusCode.ERROR`. */
const STATUS_ERROR = 2;
/** Most scopes named in a span attribute (the log line names as many). */
const MAX_SCOPES = 16;
const timeOrigin = typeof performance.timeOrigin === "number" ? performance.timeOrigin : 0;

interface Instruments {
  readonly decisions: CounterLike;
  readonly cacheLookups: CounterLike;
  readonly brokerDuration: HistogramLike;
}

/**
 * One guard's telemetry. Instruments and tracer follow the global providers: a provider
 * registered after the guard was created (or replaced) is picked up on the next record.
 */
export class Telemetry {
  #api: OpenTelemetryApi | undefined;
  #meterProvider: unknown;
  #instruments: Instruments | undefined;
  #tracerProvider: unknown;
  #tracer: TracerLike | undefined;
  readonly #onEnabled: () => void;
  /** True once the API is there: hooks record. */
  enabled = false;
  /** The one-time lookup of the API, while pending. */
  loading: Promise<void> | undefined;

  constructor(options: TelemetryOptions | undefined, onEnabled: () => void) {
    this.#onEnabled = onEnabled;
    if (options?.api !== undefined) {
      this.#enable(options.api);
      return;
    }
    this.loading = importOpenTelemetry().then((api) => {
      this.loading = undefined;
      if (api !== undefined) this.#enable(api);
    });
  }

  #enable(api: OpenTelemetryApi): void {
    this.#api = api;
    this.enabled = true;
    this.#onEnabled();
  }

  #meter(api: OpenTelemetryApi): Instruments {
    const provider = api.metrics.getMeterProvider();
    if (provider !== this.#meterProvider || this.#instruments === undefined) {
      const meter = provider.getMeter(TELEMETRY.scope);
      this.#instruments = {
        decisions: meter.createCounter(TELEMETRY.decisions, { unit: "{decision}", description: "Guard decisions (allow or deny), by outcome, code, source and mode" }),
        cacheLookups: meter.createCounter(TELEMETRY.cacheLookups, { unit: "{lookup}", description: "Lookups of the verified-token cache, by result (hit or miss)" }),
        brokerDuration: meter.createHistogram(TELEMETRY.brokerDuration, {
          unit: "s",
          description: "Duration of POST /v1/token/validate calls to the broker",
          advice: { explicitBucketBoundaries: DURATION_BUCKETS },
        }),
      };
      this.#meterProvider = provider;
    }
    return this.#instruments;
  }

  #tracerOf(api: OpenTelemetryApi): TracerLike {
    const provider = api.trace.getTracerProvider();
    if (provider !== this.#tracerProvider || this.#tracer === undefined) {
      this.#tracer = provider.getTracer(TELEMETRY.scope);
      this.#tracerProvider = provider;
    }
    return this.#tracer;
  }

  /**
   * Counts a decision; for a `verify`, records its span (started at `startedMs`, a
   * `performance.now()` reading, and lasting `event.durationMs`).
   */
  decision(event: DecisionEvent, startedMs: number, verification: boolean): void {
    const api = this.#api;
    if (api === undefined) return;
    try {
      const attributes: Attributes = { "agentwrit.outcome": event.outcome, "agentwrit.phase": event.phase, "agentwrit.mode": event.mode };
      if (event.code !== undefined) attributes["agentwrit.code"] = event.code;
      if (event.source !== undefined) attributes["agentwrit.source"] = event.source;
      this.#meter(api).decisions.add(1, attributes);
      if (!verification) return;
      const startTime = timeOrigin + startedMs;
      const span = this.#tracerOf(api).startSpan(TELEMETRY.verifySpan, { startTime });
      if (span.isRecording()) {
        span.setAttributes(spanAttributes(event, attributes));
        if (event.status !== undefined && event.status >= 500) span.setStatus({ code: STATUS_ERROR, message: event.code ?? "error" });
      }
      span.end(startTime + event.durationMs);
    } catch {
      // Telemetry must never change a decision.
    }
  }

  /** Counts one lookup of the verified-token cache. */
  cacheLookup(hit: boolean): void {
    const api = this.#api;
    if (api === undefined) return;
    try {
      this.#meter(api).cacheLookups.add(1, hit ? HIT : MISS);
    } catch {
      // Telemetry must never change a decision.
    }
  }

  /** Times one broker call; `seen.status` is the HTTP status, once the broker answered. */
  brokerCall(call: (seen: { status?: number }) => Promise<BrokerVerdict>): Promise<BrokerVerdict> {
    const api = this.#api;
    if (api === undefined) return call({});
    const started = performance.now();
    const seen: { status?: number } = {};
    const record = (outcome: string): void => {
      try {
        const attributes: Attributes = { "agentwrit.broker.outcome": outcome };
        if (seen.status !== undefined) attributes["http.response.status_code"] = seen.status;
        this.#meter(api).brokerDuration.record((performance.now() - started) / 1000, attributes);
      } catch {
        // Telemetry must never change a decision.
      }
    };
    return call(seen).then(
      (verdict) => {
        record(verdict.valid ? "valid" : verdict.rejected ? "rejected" : "invalid");
        return verdict;
      },
      (e: unknown) => {
        record(e instanceof Refusal && e.code === "broker_misconfigured" ? "misconfigured" : "unavailable");
        throw e;
      },
    );
  }
}

/** The span's attributes: the decision's, never the token or the `Authorization` header. */
function spanAttributes(event: DecisionEvent, counted: Attributes): Attributes {
  const a: Attributes = { ...counted };
  if (event.status !== undefined) a["agentwrit.status"] = event.status;
  if (event.reason !== undefined) a["agentwrit.reason"] = event.reason;
  if (event.route !== undefined) a["agentwrit.route"] = event.route;
  if (event.agentId !== undefined) a["agentwrit.agent.id"] = event.agentId;
  if (event.jti !== undefined) a["agentwrit.token.jti"] = event.jti;
  if (event.delegationDepth !== undefined) a["agentwrit.delegation.depth"] = event.delegationDepth;
  if (event.required !== undefined) a["agentwrit.scope.required"] = event.required.slice(0, MAX_SCOPES);
  if (event.missing !== undefined) {
    a["agentwrit.scope.missing"] = event.missing.slice(0, MAX_SCOPES);
    a["agentwrit.scope.missing_count"] = event.missing.length;
  }
  if (event.status !== undefined && event.status >= 500 && event.code !== undefined) a["error.type"] = event.code;
  return a;
}
