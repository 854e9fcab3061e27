/**
 * `verifyCached`, the synchronous half of `verify`: a cached token is answered without a promise,
 * with the same decision, the same refusals and the same events as `verify`; anything else is
 * left to `verify`. The verified-token cache stays bounded by `cache.max`.
 */
import * as otel from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { consoleLogger, createGuard, isGuardError, type DecisionEvent, type GuardLogger, type OpenTelemetryApi } from "../src/index.js";
import { countSignatureChecks } from "./support/signatures.js";
import { bearer, claims, makeKey, mint } from "./support/tokens.js";
import { json, payloadOf, startFakeBroker } from "./support/fake-broker.js";

const key = makeKey();

describe("verifyCached", () => {
  it("answers nothing (and reports nothing) for a token it has not verified; after verify, the identity, synchronously", async () => {
    const events: DecisionEvent[] = [];
    const guard = createGuard({ publicKey: key.jwk, onDecision: (e) => events.push(e) });
    const t = await mint(key);
    expect(guard.verifyCached(bearer(t))).toBeUndefined();
    expect(events).toEqual([]);
    await guard.verify(bearer(t));
    const counter = countSignatureChecks();
    try {
      const id = guard.verifyCached(bearer(t), "read:data:customer-{id}", { id: "42" }, { paramSource: "route", route: "GET /customers/:id" });
      expect(id).toMatchObject({ source: "cache", scope: ["read:data:customer-42", "write:data:order-7"] });
      expect(typeof (id as unknown as { then?: unknown }).then).toBe("undefined");
      expect(counter.count).toBe(0);
    } finally {
      counter.restore();
    }
    expect(events.map((e) => [e.outcome, e.phase, e.source, e.route])).toEqual([
      ["allow", "authenticate", "local", undefined],
      ["allow", "authorize", "cache", "GET /customers/:id"],
    ]);
  });

  it("throws the GuardError verify rejects with, and reports the refusal", async () => {
    const events: DecisionEvent[] = [];
    const guard = createGuard({ publicKey: key.jwk, onDecision: (e) => events.push(e) });
    const t = await mint(key);
    await guard.verify(bearer(t));
    const thrown = (() => {
      try {
        guard.verifyCached(bearer(t), "write:data:order-{id}", { id: "8" });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    const rejected = await guard.verify(bearer(t), "write:data:order-{id}", { id: "8" }).catch((e: unknown) => e);
    expect(isGuardError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: "insufficient_scope", status: 403, scope: ["write:data:order-8"] });
    expect(rejected).toMatchObject({ code: "insufficient_scope", status: 403, scope: ["write:data:order-8"] });
    expect(events.slice(1).map((e) => [e.outcome, e.code, e.source, e.missing])).toEqual([
      ["deny", "insufficient_scope", "cache", ["write:data:order-8"]],
      ["deny", "insufficient_scope", "cache", ["write:data:order-8"]],
    ]);
  });

  it("leaves to verify: another spelling of the scheme, a token another one's signature ends, a refused or expired token", async () => {
    const guard = createGuard({ publicKey: key.jwk, clockToleranceSec: 0 });
    const t = await mint(key);
    await guard.verify(bearer(t));
    expect(guard.verifyCached("bearer " + t)).toBeUndefined();
    expect(guard.verifyCached("Bearer  " + t)).toBeUndefined();
    const [h, , s] = t.split(".") as [string, string, string];
    const swapped = `${h}.${Buffer.from(JSON.stringify({ ...claims(), scope: ["admin:data:*"] })).toString("base64url")}.${s}`;
    expect(guard.verifyCached(bearer(swapped))).toBeUndefined();
    await expect(guard.verify(bearer(swapped))).rejects.toMatchObject({ code: "invalid_signature" });
    expect(guard.verifyCached(bearer(t))).toMatchObject({ source: "cache" }); // the genuine entry survived
    const realNow = Date.now;
    Date.now = () => realNow() + 3_600_000;
    try {
      expect(guard.verifyCached(bearer(t))).toBeUndefined();
    } finally {
      Date.now = realNow;
    }
  });

  it("in hybrid mode with maxStalenessSec 0 (the default), every request goes to the broker: never answered from the cache", async () => {
    const broker = await startFakeBroker((_req, res, token) => json(res, 200, { valid: true, claims: payloadOf(token ?? "") }));
    try {
      const guard = createGuard({ publicKey: key.jwk, brokerUrl: broker.url });
      const t = await mint(key);
      for (let i = 0; i < 3; i++) {
        expect(guard.verifyCached(bearer(t))).toBeUndefined();
        await expect(guard.verify(bearer(t))).resolves.toMatchObject({ source: "broker" });
      }
      expect(broker.calls).toBe(3);
      const fresh = createGuard({ publicKey: key.jwk, brokerUrl: broker.url, maxStalenessSec: 30 });
      await fresh.verify(bearer(t));
      expect(fresh.verifyCached(bearer(t))).toMatchObject({ source: "cache" });
    } finally {
      await broker.close();
    }
  });

  it("the verified-token cache holds at most cache.max entries, and the newest stay answerable", async () => {
    const guard = createGuard({ publicKey: key.jwk, cache: { max: 8 } });
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => mint(key, claims({ jti: `j${String(i)}` }))));
    for (const t of tokens) await guard.verify(bearer(t));
    expect(guard.stats().cacheSize).toBe(8);
    expect(tokens.slice(-8).every((t) => guard.verifyCached(bearer(t)) !== undefined)).toBe(true);
    expect(guard.verifyCached(bearer(tokens[0]!))).toBeUndefined();
  });

  it("a token that shares another's cache key (its last 16 characters) is refused, and the genuine entry keeps serving", async () => {
    const guard = createGuard({ publicKey: key.jwk });
    const t = await mint(key);
    await guard.verify(bearer(t));
    const forged = (await mint(makeKey(), claims(), { kid: key.kid })).slice(0, -16) + t.slice(-16);
    expect(guard.verifyCached(bearer(forged))).toBeUndefined();
    await expect(guard.verify(bearer(forged))).rejects.toMatchObject({ code: "invalid_signature" });
    expect(guard.verifyCached(bearer(forged))).toBeUndefined();
    expect(guard.verifyCached(bearer(t))).toMatchObject({ source: "cache" });
    // The header joined from two (several Authorization headers) ends like the token: refused.
    expect(guard.verifyCached(`${bearer(t)}, ${bearer(t)}`)).toBeUndefined();
    await expect(guard.verify(`${bearer(t)}, ${bearer(t)}`)).rejects.toMatchObject({ code: "malformed_authorization" });
  });
});

describe("decisions nobody consumes cost nothing; each consumer still gets its own", () => {
  function capture(enabled?: (level: string) => boolean): { logger: GuardLogger; lines: string[] } {
    const lines: string[] = [];
    const at = (level: string) => (_obj: object, msg?: string) => lines.push(`${level} ${msg ?? ""}`);
    const logger: GuardLogger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
    return { logger: enabled === undefined ? logger : { ...logger, isLevelEnabled: enabled }, lines };
  }

  it("a per-call context.logger gets the decisions of a guard that has no logger, listener or telemetry", async () => {
    const guard = createGuard({ publicKey: key.jwk, telemetry: false });
    const { logger, lines } = capture();
    const t = await mint(key);
    await guard.verify(bearer(t), undefined, undefined, { route: "GET /a", logger });
    expect(guard.verifyCached(bearer(t), undefined, undefined, { logger })).toBeDefined();
    await expect(guard.verify(bearer(t), "admin:data:*", undefined, { logger })).rejects.toMatchObject({ code: "insufficient_scope" });
    await guard.verify(bearer(t)); // no logger in this call: nothing written
    expect(lines).toEqual(["debug agentwrit: allowed", "debug agentwrit: allowed", expect.stringMatching(/^debug agentwrit: refused \(insufficient_scope\)/)]);
  });

  it("a logger that drops a level (isLevelEnabled, or pino's levelVal) gets no line for it; one without either gets every line", async () => {
    const guard = createGuard({ publicKey: key.jwk, telemetry: false });
    const t = await mint(key);
    await guard.verify(bearer(t));
    const asked: string[] = [];
    const pinoLike = capture((level) => {
      asked.push(level);
      return level !== "debug";
    });
    const levelVal = capture();
    const withLevelVal = Object.assign(levelVal.logger, { levelVal: 30 });
    const plain = capture();
    for (const logger of [pinoLike.logger, withLevelVal, plain.logger]) {
      expect(guard.verifyCached(bearer(t), undefined, undefined, { logger })).toBeDefined();
      await expect(guard.verify(bearer(t), "admin:data:*", undefined, { logger })).rejects.toMatchObject({ code: "insufficient_scope" });
      await expect(guard.verify(bearer(t), "read:data:{x}", {}, { logger, paramSource: "route" })).rejects.toMatchObject({ code: "requirement_param_missing" });
    }
    expect(asked).toEqual(["debug", "debug", "error"]);
    const errorsOnly = [expect.stringMatching(/^error agentwrit: refused \(requirement_param_missing\)/)];
    expect(pinoLike.lines).toEqual(errorsOnly);
    expect(levelVal.lines).toEqual(errorsOnly);
    expect(plain.lines).toHaveLength(3);
    // AGENTWRIT_LOG's console logger says which levels it writes.
    expect(consoleLogger("warn")?.isLevelEnabled?.("debug")).toBe(false);
    expect(consoleLogger("warn")?.isLevelEnabled?.("error")).toBe(true);
  });

  it("with @opentelemetry/api and no SDK (the API's no-op providers), no instrument records and no span starts; a registered SDK is picked up on the next call", async () => {
    const calls: string[] = [];
    const meter = otel.createNoopMeter();
    const spy = (name: string) => () => {
      calls.push(name);
      return undefined;
    };
    let sdk = false;
    const api: OpenTelemetryApi = {
      createNoopMeter: otel.createNoopMeter,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- what the guard reads to recognise the API's no-op tracer provider
      ProxyTracerProvider: otel.ProxyTracerProvider,
      metrics: {
        getMeterProvider: () => ({
          getMeter: () => (sdk ? { createCounter: () => ({ add: spy("add") }), createHistogram: () => ({ record: spy("record") }) } : meter),
        }),
      },
      trace: { getTracerProvider: () => otel.trace.getTracerProvider() },
    };
    const guard = createGuard({ publicKey: key.jwk, telemetry: { api } });
    const t = await mint(key);
    await guard.verify(bearer(t));
    for (let i = 0; i < 3; i++) guard.verifyCached(bearer(t));
    expect(calls).toEqual([]);
    sdk = true; // a new meter provider: another object on every call, as a registration gives
    guard.verifyCached(bearer(t));
    expect(calls).toEqual(["add", "add"]); // the cache hit and the decision
  });
});
