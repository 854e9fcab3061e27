/**
 * Soak: a Fastify server guarded in hybrid mode (maxStalenessSec 0) on 127.0.0.1, its broker a
 * dev broker behind a switchable proxy (test/support/servers.ts), under concurrent keep-alive load
 * for SOAK_SECONDS (default 5; set minutes locally). The mix: valid tokens, forged, expired and
 * malformed ones (fresh per request, so the cache must stay within its bound), and tokens revoked
 * mid-run through the dev broker; the broker goes away in the middle and comes back.
 *
 * Every response is checked against the status expected for that token at that moment:
 * valid → 200 (503 during the outage); forged, expired, malformed → 401 always; revoked → 401
 * after its revocation (during the outage 503 unless the guard had already learnt the verdict,
 * which it must then keep). A request that overlaps an event (revocation, outage start or end)
 * may get either side's status and is counted as "straddling". Bounded in time and count.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createGuard } from "@agentwrit/guard";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening } from "../conformance/harness.js";
import { forwardTo, standIn, type StandIn } from "../support/servers.js";
import { Report } from "./report.js";
import { minter, payloadOf, type Minter } from "./tokens.js";

const SOAK_SECONDS = Math.max(1, Number(process.env.SOAK_SECONDS ?? "5"));
const CONCURRENCY = 24;
const MAX_REQUESTS = 5_000_000;
const CACHE_MAX = 2000;
const AUDIENCE = "soak-api";
const report = new Report();

let broker: DevBroker;
let proxy: StandIn;
let server: Listening;
let m: Minter;
const guard = { current: undefined as ReturnType<typeof createGuard> | undefined };

beforeAll(async () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  broker = await startDevBroker({ signingKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), audience: AUDIENCE });
  m = minter(privateKey, broker.kid);
  proxy = await standIn(forwardTo(broker.url));
  guard.current = createGuard({
    brokerUrl: proxy.url,
    publicKey: broker.publicKeyPem,
    audience: AUDIENCE,
    issuer: "",
    maxStalenessSec: 0,
    brokerTimeoutMs: 500,
    cache: { max: CACHE_MAX },
  });
  server = await listen("fastify", [{ path: "/p", guard: guard.current, requirement: "read:data:customer-42" }]);
});

afterAll(async () => {
  await Promise.all([server.close(), proxy.close(), broker.close()]);
  report.write();
});

interface Window {
  start: number;
  done: number;
}
type Kind = "valid" | "revoked" | "forged" | "expired" | "malformed";

function get(agent: Agent, port: number, auth: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/p", agent, headers: { authorization: auth } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

const pct = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

describe("soak", () => {
  it(`hybrid guard under load for ${SOAK_SECONDS} s with revocations and a broker outage: zero wrong decisions`, async () => {
    const tally = report.get("soak");
    const scope = ["read:data:customer-42"];
    const ttl = SOAK_SECONDS + 600;
    const agents = await Promise.all(Array.from({ length: 12 }, (_, i) => broker.createAgent({ orchId: "orch-soak", taskId: `task-${i}`, scope, ttl })));
    const tokens = agents.map((a) => a.accessToken);
    // 0-3 stay valid; 4-7 are revoked at 25 % (token, agent, task, release); 8-11 at 80 % (token, agent, task, renewal).
    const revokedAt = new Map<number, Window>();
    const confirmed = new Map<number, number>(); // token index → when a 401 for it was received after its revocation
    const outage: Window = { start: Infinity, done: Infinity };
    const restore: Window = { start: Infinity, done: Infinity };
    const revoke = async (idx: number, how: "token" | "agent" | "task" | "release" | "renew"): Promise<void> => {
      const w: Window = { start: performance.now(), done: Infinity };
      revokedAt.set(idx, w);
      const t = tokens[idx]!;
      if (how === "release") await broker.release(t);
      else if (how === "renew") await broker.renew(t);
      else if (how === "token") await broker.revoke("token", String(payloadOf(t).jti));
      else if (how === "agent") await broker.revoke("agent", agents[idx]!.agentId);
      else await broker.revoke("task", `task-${idx}`);
      w.done = performance.now();
    };
    const now = Math.floor(Date.now() / 1000);
    const claims = payloadOf(tokens[0]!);

    let unhandled = 0;
    const onUnhandled = (): void => {
      unhandled++;
    };
    process.on("unhandledRejection", onUnhandled);
    const rss0 = process.memoryUsage().rss;
    let peakRss = rss0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);

    const latencies: number[] = [];
    const outcomes = new Map<string, number>();
    const wrong: string[] = [];
    let straddling = 0;
    let sent = 0;
    const t0 = performance.now();
    const deadline = t0 + SOAK_SECONDS * 1000;
    const at = (f: number) => t0 + SOAK_SECONDS * 1000 * f;

    /** The statuses acceptable for one request that ran from `a` to `b`. */
    const expected = (kind: Kind, idx: number, a: number, b: number): { set: number[]; straddles: boolean } => {
      if (kind === "forged" || kind === "expired" || kind === "malformed") return { set: [401], straddles: false };
      const inOutage = a >= outage.done && b <= restore.start;
      const outOfOutage = b <= outage.start || a >= restore.done;
      const up = outOfOutage ? [200] : inOutage ? [503] : [200, 503];
      const r = revokedAt.get(idx);
      if (kind === "valid" || r === undefined || b <= r.start) return { set: up, straddles: !outOfOutage && !inOutage };
      const knows = (confirmed.get(idx) ?? Infinity) <= a;
      const dead = outOfOutage || knows ? [401] : inOutage ? [503] : [401, 503];
      // Before it learns the verdict during the outage, another in-flight request may just have taught it.
      const deadSet = inOutage && !knows ? [401, 503] : dead;
      if (a >= r.done) return { set: deadSet, straddles: !outOfOutage && !inOutage };
      return { set: [...new Set([...up, ...deadSet])], straddles: true };
    };

    const pick = (n: number): { kind: Kind; idx: number; auth: string } => {
      const r = n % 20;
      if (r < 10) {
        const idx = n % 12;
        return { kind: idx < 4 ? "valid" : "revoked", idx, auth: `Bearer ${tokens[idx]!}` };
      }
      if (r < 14) return { kind: "forged", idx: -1, auth: `Bearer ${m.forged({ ...claims, jti: randomBytes(16).toString("hex") })}` };
      if (r < 17) return { kind: "expired", idx: -1, auth: `Bearer ${m.broker({ ...claims, jti: randomBytes(16).toString("hex"), iat: now - 900, nbf: now - 900, exp: now - 600 })}` };
      return { kind: "malformed", idx: -1, auth: `Bearer ${randomBytes(24).toString("base64url")}.${randomBytes(40).toString("base64url")}` };
    };

    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const events = (async () => {
      const wait = (f: number) => new Promise((r) => setTimeout(r, Math.max(0, at(f) - performance.now())));
      await wait(0.25);
      await Promise.all([revoke(4, "token"), revoke(5, "agent"), revoke(6, "task"), revoke(7, "release")]);
      await wait(0.45);
      outage.start = performance.now();
      await proxy.refuse();
      outage.done = performance.now();
      await wait(0.65);
      restore.start = performance.now();
      await proxy.resume();
      restore.done = performance.now();
      await wait(0.8);
      await Promise.all([revoke(8, "token"), revoke(9, "agent"), revoke(10, "task"), revoke(11, "renew")]);
    })();
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline && sent < MAX_REQUESTS) {
        const n = sent++;
        const { kind, idx, auth } = pick(n);
        const a = performance.now();
        let status: number;
        try {
          status = await get(agent, server.port, auth);
        } catch {
          status = 0;
        }
        const b = performance.now();
        latencies.push(b - a);
        const key = `${kind}→${status}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        const r = revokedAt.get(idx);
        if (status === 401 && kind === "revoked" && r !== undefined && a >= r.done && !confirmed.has(idx)) confirmed.set(idx, b);
        const { set, straddles } = expected(kind, idx, a, b);
        if (straddles) straddling++;
        if (!tally.check(key, set.includes(status)) && wrong.length < 20) wrong.push(`${kind}#${idx} got ${status}, expected ${set.join("|")} at ${(a - t0).toFixed(0)} ms`);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await events;
    } finally {
      clearInterval(sampler);
      agent.destroy();
      process.off("unhandledRejection", onUnhandled);
    }
    const elapsed = (performance.now() - t0) / 1000;
    latencies.sort((x, y) => x - y);
    const cacheSize = guard.current!.stats().cacheSize;
    const growth = (peakRss - rss0) / 1024 / 1024;
    tally.check("no unhandled rejections", unhandled === 0);
    tally.check(`cache within its bound (${CACHE_MAX})`, cacheSize <= CACHE_MAX);
    tally.check("RSS growth < 256 MB", growth < 256);
    tally.figure("requests", `${sent} in ${elapsed.toFixed(1)} s (${(sent / elapsed).toFixed(0)}/s, ${CONCURRENCY} concurrent)`);
    tally.figure("decisions", [...outcomes].sort().map(([k, v]) => `${k} ${v}`).join(", "));
    tally.figure("straddling an event", straddling);
    tally.figure("wrong", tally.tried - tally.held);
    tally.figure("latency p50/p99", `${pct(latencies, 50).toFixed(2)}/${pct(latencies, 99).toFixed(2)} ms`);
    tally.figure("peak RSS", `${(peakRss / 1024 / 1024).toFixed(0)} MB (+${growth.toFixed(0)} MB)`);
    tally.figure("cache", `${cacheSize}/${CACHE_MAX}`);
    tally.figure("unhandled rejections", unhandled);
    console.log(`soak: ${sent} requests, wrong ${tally.tried - tally.held}, p50 ${pct(latencies, 50).toFixed(2)} ms, p99 ${pct(latencies, 99).toFixed(2)} ms, peak RSS ${(peakRss / 1024 / 1024).toFixed(0)} MB`);
    expect(wrong).toEqual([]);
    expect(unhandled).toBe(0);
    expect(cacheSize).toBeLessThanOrEqual(CACHE_MAX);
    expect(growth).toBeLessThan(256);
    // The run exercised what it claims to: every class, the outage and the revocations.
    for (const k of ["valid→200", "valid→503", "revoked→401", "forged→401", "expired→401", "malformed→401"]) expect(outcomes.get(k) ?? 0, k).toBeGreaterThan(0);
  });
});
