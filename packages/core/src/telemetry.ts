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

/** What a guard's decision feeds, as bits (`Guard` reads them once per call). */
export const WATCH_TIMED = 1;
export const WATCH_METRICS = 2;
export const WATCH_TRACES = 4;

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
  /**
   * With these two (in every `@opentelemetry/api` 1.x with metrics), the API's own no-op meter and
   * tracer providers are recognised, and the guard builds nothing for them.
   */
  readonly createNoopMeter?: (() => unknown) | undefined;
  readonly ProxyTracerProvider?: (new () => { getDelegate(): unknown }) | undefined;
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
 * registered after the guard was created (or replaced) is picked up on the next record. While
 * the providers are the API's own no-op ones (the API installed, no SDK registered), nothing is
 * built: no attributes, no span, no clock reading.
 */
export class Telemetry {
  #api: OpenTelemetryApi | undefined;
  #meterProvider: unknown;
  #instruments: Instruments | undefined;
  /** The current meter provider is the API's no-op one. */
  #meterIsNoop = false;
  #tracerProvider: unknown;
  #tracer: TracerLike | undefined;
  /** The API's no-op tracer provider: the delegate of a proxy no SDK has set. */
  #noopTracerProvider: unknown;
  /** Decision attributes of the allow outcomes, by phase and source (a small, fixed set). */
  readonly #allowAttributes = new Map<string, Attributes>();
  /** True once the API is there: hooks may record. */
  enabled = false;
  /** The one-time lookup of the API, while pending. */
  loading: Promise<void> | undefined;

  constructor(options: TelemetryOptions | undefined) {
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
    const Proxy = api.ProxyTracerProvider;
    try {
      // A fresh proxy's delegate is the API's no-op tracer provider (a singleton).
      this.#noopTracerProvider = typeof Proxy === "function" ? new Proxy().getDelegate() : undefined;
    } catch {
      this.#noopTracerProvider = undefined;
    }
    this.enabled = true;
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
      this.#meterIsNoop = typeof api.createNoopMeter === "function" && meter === api.createNoopMeter();
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

  /** True when a meter provider other than the API's no-op one is registered (it is looked up every time). */
  metering(): boolean {
    const api = this.#api;
    if (api === undefined) return false;
    try {
      this.#meter(api);
      return !this.#meterIsNoop;
    } catch {
      return false;
    }
  }

  /** True when a tracer provider other than the API's no-op one is registered (looked up every time). */
  tracing(): boolean {
    const api = this.#api;
    if (api === undefined) return false;
    try {
      let provider: unknown = api.trace.getTracerProvider();
      const Proxy = api.ProxyTracerProvider;
      // The global tracer provider is a proxy; an SDK sets its delegate.
      if (typeof Proxy === "function" && provider instanceof Proxy) provider = provider.getDelegate();
      return this.#noopTracerProvider === undefined || provider !== this.#noopTracerProvider;
    } catch {
      return false;
    }
  }

  #decisionAttributes(event: DecisionEvent): Attributes {
    if (event.outcome === "allow" && event.code === undefined) {
      const key = event.phase + "|" + String(event.source) + "|" + event.mode;
      let cached = this.#allowAttributes.get(key);
      if (cached === undefined) {
        cached = Object.freeze(decisionAttributes(event));
        if (this.#allowAttributes.size < 64) this.#allowAttributes.set(key, cached);
      }
      return cached;
    }
    return decisionAttributes(event);
  }

  /**
   * Counts a decision (`watch` has `WATCH_METRICS`); for a `verify` (`watch` has `WATCH_TRACES`),
   * records its span (started at `startedMs`, a `performance.now()` reading, and lasting
   * `event.durationMs`). `watch` is what `metering()` and `tracing()` said when the call began.
   */
  decision(event: DecisionEvent, watch: number, startedMs: number, verification: boolean): void {
    const api = this.#api;
    if (api === undefined) return;
    try {
      const tracing = verification && (watch & WATCH_TRACES) !== 0 && startedMs >= 0;
      const attributes = this.#decisionAttributes(event);
      if (watch & WATCH_METRICS) this.#meter(api).decisions.add(1, attributes);
      if (!tracing) return;
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
      const instruments = this.#meter(api);
      if (!this.#meterIsNoop) instruments.cacheLookups.add(1, hit ? HIT : MISS);
    } catch {
      // Telemetry must never change a decision.
    }
  }

  /** Times one broker call; `seen.status` is the HTTP status, once the broker answered. */
  brokerCall(call: (seen: { status?: number }) => Promise<BrokerVerdict>): Promise<BrokerVerdict> {
    const api = this.#api;
    if (api === undefined || !this.metering()) return call({});
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

/** The decision counter's attributes (and the span's first ones). */
function decisionAttributes(event: DecisionEvent): Attributes {
  const attributes: Attributes = { "agentwrit.outcome": event.outcome, "agentwrit.phase": event.phase, "agentwrit.mode": event.mode };
  if (event.code !== undefined) attributes["agentwrit.code"] = event.code;
  if (event.source !== undefined) attributes["agentwrit.source"] = event.source;
  return attributes;
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
