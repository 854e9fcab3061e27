/**
 * Fault injection: the guard's broker (and, separately, its JWKS endpoint) is a stand-in on
 * 127.0.0.1 (test/support/servers.ts) that refuses connections, never answers, answers late,
 * answers 500, HTML, truncated JSON, a 50 MB body, claims for another token, or flaps. Through
 * every adapter, each case must answer 503 (401 where the token itself is bad) within
 * `brokerTimeoutMs` + 500 ms, and service must come back by itself once the stand-in behaves.
 */
import { createGuard, type Guard } from "@agentwrit/guard";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AUDIENCE, setUpTokens, type Fixture } from "../conformance/fixtures.js";
import { adaptersFor, type Adapter } from "../conformance/harness.js";
import { answer, forwardTo, standIn, type StandIn, type StandInHandler } from "../support/servers.js";
import { makeKey, mint } from "../support/tokens.js";
import { Report } from "./report.js";
import { payloadOf } from "./tokens.js";

const TIMEOUT_MS = 400;
const BUDGET_MS = TIMEOUT_MS + 500;
const MB = 1024 * 1024;
const report = new Report();
let fx: Fixture;
let broker: StandIn;
let jwks: StandIn;

beforeAll(async () => {
  fx = await setUpTokens();
  broker = await standIn(forwardTo(fx.broker.url));
  jwks = await standIn(serveJwks());
});

afterAll(async () => {
  await Promise.all([broker.close(), jwks.close(), fx.close()]);
  report.write();
});

const serveJwks = (): StandInHandler => answer(200, { keys: [fx.broker.publicKeyJwk] });
const bearer = (t: string | undefined): string => "Bearer " + (t ?? "");

/** A body of `total` bytes, written with backpressure, stopped when the client goes away. Counts what it handed to the socket. */
function hugeBody(total: number, counter: { sent: number }): StandInHandler {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  return (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"valid":true,"claims":{},"pad":"');
    const pump = (): void => {
      while (counter.sent < total && !res.destroyed) {
        counter.sent += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      if (!res.destroyed) res.end('"}');
    };
    pump();
  };
}

/** Closes the connection after part of a declared body. */
const cutOff: StandInHandler = (req, res) => {
  req.resume();
  res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
  res.write('{"valid":tr');
  setImmediate(() => res.destroy());
};

interface Fault {
  readonly name: string;
  /** Puts the stand-in into the fault. */
  readonly start: (s: StandIn) => Promise<void> | void;
  /** The code a genuine token gets meanwhile. */
  readonly code: string;
}

function faults(kind: "broker" | "jwks", counter: { sent: number }): Fault[] {
  const unavailable = kind === "broker" ? "broker_unavailable" : "jwks_unavailable";
  const behave = (h: StandInHandler) => (s: StandIn) => {
    s.behave(h);
  };
  const list: Fault[] = [
    { name: "connection refused", start: (s) => s.refuse(), code: unavailable },
    { name: "accepts and never answers", start: behave((req) => req.resume()), code: unavailable },
    {
      name: "answers after the timeout",
      start: (s) => {
        const ok = kind === "broker" ? forwardTo(fx.broker.url) : serveJwks();
        s.behave((req, res) => s.later(TIMEOUT_MS + 300, () => ok(req, res)));
      },
      code: unavailable,
    },
    { name: "HTTP 500", start: behave(answer(500, "internal error", "text/plain")), code: unavailable },
    // A 404 from the broker's validate route means brokerUrl is wrong: its own code, still a 503.
    { name: "HTTP 404", start: behave(answer(404, "404 page not found", "text/plain")), code: kind === "broker" ? "broker_misconfigured" : unavailable },
    { name: "HTML with 200", start: behave(answer(200, "<!doctype html><title>Login</title><p>Sign in", "text/html")), code: unavailable },
    { name: "truncated JSON", start: behave(answer(200, '{"valid":true,"claims":{"sub":"spiffe://')), code: unavailable },
    { name: "connection cut mid-body", start: behave(cutOff), code: unavailable },
    { name: "redirect (never followed)", start: behave((req, res) => {
      req.resume();
      res.writeHead(307, { location: kind === "broker" ? fx.broker.url + "/v1/token/validate" : "http://127.0.0.1:1/jwks" });
      res.end();
    }), code: unavailable },
    { name: "50 MB body", start: behave(hugeBody(50 * MB, counter)), code: unavailable },
  ];
  if (kind === "broker") {
    const other = payloadOf(fx.tokens.other!);
    list.push(
      { name: "valid:true with claims for another token", start: behave(answer(200, { valid: true, claims: other })), code: "broker_claims_mismatch" },
      { name: "valid:true without claims", start: behave(answer(200, { valid: true })), code: "broker_unavailable" },
      { name: "valid \"true\" as a string", start: behave(answer(200, { valid: "true", claims: payloadOf(fx.tokens.ok!) })), code: "broker_unavailable" },
      { name: "JSON array", start: behave(answer(200, [])), code: "broker_unavailable" },
    );
  } else {
    list.push(
      { name: "keys not a list", start: behave(answer(200, { keys: "x" })), code: unavailable },
      { name: "JSON array", start: behave(answer(200, [])), code: unavailable },
    );
  }
  return list;
}

interface Timed {
  readonly status: number;
  readonly code: unknown;
  readonly retryAfter: string | undefined;
  readonly ms: number;
}
async function timed(adapter: Adapter, path: string, auth: string): Promise<Timed> {
  const t0 = performance.now();
  const a = await adapter.send(path, auth);
  return { status: a.status, code: a.body.code, retryAfter: a.retryAfter, ms: performance.now() - t0 };
}

describe("fault injection", () => {
  for (const kind of ["broker", "jwks"] as const) {
    it(`${kind} stand-in: every fault → 503 within brokerTimeoutMs + 500 ms, forged → 401 untouched, then recovery`, async () => {
      const tally = report.get(`faults: ${kind}`);
      const stand = kind === "broker" ? broker : jwks;
      const counter = { sent: 0 };
      const misses: string[] = [];
      let worst = 0;
      const attacker = makeKey();
      const forged = bearer(mint(attacker, payloadOf(fx.tokens.ok!), { kid: fx.broker.kid }));
      for (const fault of faults(kind, counter)) {
        // A fresh guard per fault: a JWKS once fetched is cached, and must be fetched during the fault.
        const guard: Guard =
          kind === "broker"
            ? createGuard({ brokerUrl: broker.url, publicKey: fx.broker.publicKeyPem, audience: AUDIENCE, issuer: "", brokerTimeoutMs: TIMEOUT_MS })
            : createGuard({ jwksUri: jwks.url + "/jwks.json", audience: AUDIENCE, issuer: "", brokerTimeoutMs: TIMEOUT_MS });
        const adapters = await adaptersFor([{ path: "/p", guard }]);
        try {
          counter.sent = 0;
          await fault.start(stand);
          const memBefore = process.memoryUsage();
          for (const adapter of adapters) {
            const r = await timed(adapter, "/p", bearer(fx.tokens.ok));
            worst = Math.max(worst, r.ms);
            const good = r.status === 503 && r.code === fault.code && r.retryAfter === "1" && r.ms < BUDGET_MS;
            if (!tally.check(`${adapter.name}: ${fault.name}`, good)) misses.push(`${adapter.name}: ${fault.name}: ${r.status} ${String(r.code)} in ${r.ms.toFixed(0)} ms`);
            // Structurally bad tokens never need the broker. (With a JWKS that is not loaded, any
            // request, even a malformed one, starts one background refresh: single-flight, reported.)
            const before = stand.requests;
            const bad = await timed(adapter, "/p", "Bearer not.a.token");
            const badOk = bad.status === 401 && bad.code === "malformed_token" && (kind === "jwks" || stand.requests === before);
            if (!tally.check(`${adapter.name}: ${fault.name}: malformed token`, badOk)) misses.push(`${adapter.name}: ${fault.name}: malformed → ${bad.status} ${String(bad.code)}`);
            if (kind === "broker") {
              const f = await timed(adapter, "/p", forged);
              const fOk = f.status === 401 && f.code === "invalid_signature" && stand.requests === before;
              if (!tally.check(`${adapter.name}: ${fault.name}: forged token`, fOk)) misses.push(`${adapter.name}: ${fault.name}: forged → ${f.status} ${String(f.code)}`);
            }
          }
          if (fault.name === "50 MB body") {
            const memAfter = process.memoryUsage();
            const grew = (memAfter.heapUsed + memAfter.arrayBuffers - memBefore.heapUsed - memBefore.arrayBuffers) / MB;
            const perRequest = counter.sent / 3 / MB;
            tally.figure("50 MB body: MB the stand-in got to send per request", perRequest.toFixed(1));
            tally.figure("heap+buffers growth", `${grew.toFixed(1)} MB`);
            if (!tally.check("50 MB body: cut off (< 16 MB sent per request)", perRequest < 16)) misses.push(`50 MB: ${perRequest.toFixed(1)} MB sent per request`);
            if (!tally.check("50 MB body: memory grew < 50 MB", grew < 50)) misses.push(`50 MB: memory grew ${grew.toFixed(1)} MB`);
          }
          // Recovery: the stand-in behaves again, and nothing needs restarting.
          await stand.resume();
          stand.behave(kind === "broker" ? forwardTo(fx.broker.url) : serveJwks());
          for (const adapter of adapters) {
            const r = await timed(adapter, "/p", bearer(fx.tokens.ok));
            if (!tally.check(`${adapter.name}: ${fault.name}: recovers`, r.status === 200)) misses.push(`${adapter.name}: ${fault.name}: after recovery ${r.status} ${String(r.code)}`);
          }
        } finally {
          await stand.resume();
          stand.behave(kind === "broker" ? forwardTo(fx.broker.url) : serveJwks());
          await Promise.all(adapters.map((a) => a.close()));
        }
      }
      tally.figure("slowest fault answer", `${worst.toFixed(0)} ms (budget ${BUDGET_MS})`);
      expect(misses).toEqual([]);
    });
  }

  it("flapping broker: valid tokens get 200 or 503 (never 401), forged get 401, each within budget; then steady 200", async () => {
    const tally = report.get("faults: flapping broker");
    const guard = createGuard({ brokerUrl: broker.url, publicKey: fx.broker.publicKeyPem, audience: AUDIENCE, issuer: "", brokerTimeoutMs: TIMEOUT_MS });
    const adapters = await adaptersFor([{ path: "/p", guard }]);
    const forged = bearer(mint(makeKey(), payloadOf(fx.tokens.ok!), { kid: fx.broker.kid }));
    const outcomes = new Map<string, number>();
    const misses: string[] = [];
    let up = true;
    let flips = 0;
    const ctl = { stop: false };
    const flapper = (async () => {
      while (!ctl.stop && flips < 200) {
        await new Promise((r) => setTimeout(r, 40));
        if (up) await broker.refuse();
        else await broker.resume();
        up = !up;
        flips++;
      }
      await broker.resume();
    })();
    try {
      const until = performance.now() + 2000;
      for (let i = 0; i < 1000 && performance.now() < until; i++) {
        const adapter = adapters[i % 3]!;
        const isForged = i % 4 === 3;
        const r = await timed(adapter, "/p", isForged ? forged : bearer(fx.tokens.ok));
        const key = `${isForged ? "forged" : "valid"} → ${r.status}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        const good = (isForged ? r.status === 401 : r.status === 200 || r.status === 503) && r.ms < BUDGET_MS;
        if (!tally.check(`${adapter.name} #${i}`, good)) misses.push(`${adapter.name} #${i}: ${key} in ${r.ms.toFixed(0)} ms`);
      }
    } finally {
      ctl.stop = true;
      await flapper;
    }
    for (const adapter of adapters) {
      const r = await timed(adapter, "/p", bearer(fx.tokens.ok));
      if (!tally.check(`${adapter.name}: steady after flapping`, r.status === 200)) misses.push(`${adapter.name}: after flapping ${r.status}`);
    }
    await Promise.all(adapters.map((a) => a.close()));
    tally.figure("flips", flips);
    tally.figure("outcomes", [...outcomes].map(([k, v]) => `${k}: ${v}`).join(", "));
    expect(outcomes.get("valid → 200") ?? 0).toBeGreaterThan(0);
    expect(misses).toEqual([]);
  });

  it("a flood of unknown kids costs at most one JWKS fetch per cooldown (30 s)", async () => {
    const tally = report.get("faults: JWKS unknown-kid flood");
    jwks.behave(serveJwks());
    jwks.resetCount();
    const guard = createGuard({ jwksUri: jwks.url + "/jwks.json", audience: AUDIENCE, issuer: "", brokerTimeoutMs: TIMEOUT_MS });
    const adapters = await adaptersFor([{ path: "/p", guard }]);
    const claims = payloadOf(fx.tokens.ok!);
    const flood = async (n: number): Promise<number> => {
      let refused = 0;
      for (let i = 0; i < n; i++) {
        const k = makeKey();
        const r = await adapters[i % 3]!.send("/p", bearer(mint(k, { ...claims, jti: k.kid.slice(0, 32) })));
        if (r.status === 401 && r.body.code === "unknown_kid") refused++;
      }
      return refused;
    };
    try {
      expect(tally.check("genuine token verified through the JWKS", (await adapters[0]!.send("/p", bearer(fx.tokens.ok))).status === 200)).toBe(true);
      const first = await flood(300);
      tally.check("300 unknown kids refused (401 unknown_kid)", first === 300);
      tally.check("…with no fetch beyond the first", jwks.requests === 1);
      tally.figure("fetches after 300 unknown kids", jwks.requests);
      // 31 s later (Date.now moved on): the cooldown is over, and the next flood costs exactly one fetch.
      const real = Date.now.bind(Date);
      const spy = vi.spyOn(Date, "now").mockImplementation(() => real() + 31_000);
      let second: number;
      try {
        second = await flood(300);
      } finally {
        spy.mockRestore();
      }
      tally.check("300 more after the cooldown refused", second === 300);
      tally.check("…with exactly one more fetch", jwks.requests === 2);
      tally.figure("fetches after 600 unknown kids over two cooldowns", jwks.requests);
      expect([first, second, jwks.requests]).toEqual([300, 300, 2]);
    } finally {
      await Promise.all(adapters.map((a) => a.close()));
    }
  });
});
