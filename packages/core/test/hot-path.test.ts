/**
 * `verifyCached`, the synchronous half of `verify`: a cached token is answered without a promise,
 * with the same decision, the same refusals and the same events as `verify`; anything else is
 * left to `verify`. The verified-token cache stays bounded by `cache.max`.
 */
import { describe, expect, it } from "vitest";
import { createGuard, isGuardError, type DecisionEvent } from "../src/index.js";
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
});
