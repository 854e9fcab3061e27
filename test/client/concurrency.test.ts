/**
 * Creating agents in parallel against a broker that fails concurrent app requests as the real one
 * does (Appendix 3; `locking-broker.ts` in front of the real dev broker): one app authentication,
 * launch-token requests one at a time, and exactly the two lock failures retried with bounded
 * backoff. A 403 for a scope over the app's ceiling is never retried.
 */
import { AgentWritApp, AuthorizationError, ProblemResponseError, RateLimitError, validate } from "@agentwrit/client";
import { startDevBroker, type DevBroker, type RegisteredApp } from "@agentwrit/dev-broker";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { lockingBroker, type LockingBroker } from "./locking-broker.js";

let broker: DevBroker;
let app: RegisteredApp;
let proxy: LockingBroker | undefined;
let n = 0;

beforeAll(async () => {
  broker = await startDevBroker();
});
afterAll(() => broker.close());
beforeEach(async () => {
  app = await broker.registerApp({ name: `busy-${String(++n)}`, scopes: ["read:data:*", "write:data:*"] });
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const clientFor = (url: string) => new AgentWritApp({ brokerUrl: url, clientId: app.clientId, clientSecret: app.clientSecret });

describe("20 agents created in parallel", () => {
  it("all succeed: app auth once (its 500 retried), launch tokens one at a time ('app not found' retried)", async () => {
    // The first app auth fails even alone; every third launch-token attempt too (another writer holds the lock).
    proxy = await lockingBroker(broker.url, { failAppAuth: (i) => i === 1, failLaunch: (i) => i % 3 === 0 });
    const client = clientFor(proxy.url);
    const agents = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.createAgent({ orchId: "batch", taskId: `task-${String(i)}`, scope: [`read:data:customer-${String(i)}`] })),
    );
    expect(new Set(agents.map((a) => a.agentId)).size).toBe(20);
    for (const [i, a] of agents.entries()) {
      expect(await validate(broker.url, a.accessToken)).toMatchObject({ valid: true, claims: { scope: [`read:data:customer-${String(i)}`], task_id: `task-${String(i)}` } });
    }
    const s = proxy.stats;
    expect(s.appAuthOk).toBe(1);
    expect(s.appAuthInjected).toBe(1);
    expect(s.appAuthAttempts).toBe(2);
    expect(s.maxConcurrentLaunch).toBe(1);
    expect(s.launchOk).toBe(20);
    expect(s.launchInjected).toBeGreaterThanOrEqual(6);
    expect(s.launchAttempts).toBe(s.launchOk + s.launchInjected);
  });

  it("the stand-in does fail concurrent launch-token requests (what a client that does not serialise meets)", async () => {
    proxy = await lockingBroker(broker.url);
    const auth = (await (await fetch(proxy.url + "/v1/app/auth", { method: "POST", body: JSON.stringify({ client_id: app.clientId, client_secret: app.clientSecret }) })).json()) as { access_token: string };
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(proxy!.url + "/v1/app/launch-tokens", {
          method: "POST",
          headers: { authorization: `Bearer ${auth.access_token}` },
          body: JSON.stringify({ agent_name: "naive", allowed_scope: ["read:data:x"], max_ttl: 60 }),
        }).then(async (r) => `${String(r.status)} ${((await r.json()) as { detail?: string }).detail ?? ""}`.trim()),
      ),
    );
    expect(statuses.filter((s) => s === "403 app not found").length).toBeGreaterThanOrEqual(15);
  });

  it("one client, 20 parallel agents, directly on the dev broker (app auth limited to a burst of 3): one authentication", async () => {
    const agents = await Promise.all(Array.from({ length: 20 }, (_, i) => clientFor(broker.url).createAgent({ orchId: "o", taskId: `t${String(i)}`, scope: ["read:data:x"] }).then(() => "ok", (e: unknown) => (e instanceof RateLimitError ? "429" : String(e)))));
    expect(agents.filter((a) => a === "429")).toHaveLength(17); // 20 clients authenticate 20 times: 17 are refused
    const fresh = await broker.registerApp({ name: `busy-${String(++n)}`, scopes: ["read:data:*"] });
    const one = new AgentWritApp({ brokerUrl: broker.url, clientId: fresh.clientId, clientSecret: fresh.clientSecret });
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => one.createAgent({ orchId: "o", taskId: `t${String(i)}`, scope: ["read:data:x"] })));
    expect(made).toHaveLength(20);
  });
});

describe("what is not retried, and how far retries go", () => {
  it("a real 403 (scope over the app's ceiling) is not retried, even among parallel requests", async () => {
    proxy = await lockingBroker(broker.url, { failLaunch: (i) => i % 2 === 0 });
    const client = clientFor(proxy.url);
    const results = await Promise.all([
      client.createAgent({ orchId: "o", taskId: "a", scope: ["read:data:x"] }).then(() => "ok"),
      client.createAgent({ orchId: "o", taskId: "b", scope: ["admin:revoke:*"] }).then(
        () => "ok",
        (e: unknown) => (e instanceof AuthorizationError ? `${e.errorCode ?? ""}: ${e.problem.detail}` : String(e)),
      ),
      client.createAgent({ orchId: "o", taskId: "c", scope: ["write:data:y"] }).then(() => "ok"),
    ]);
    expect(results).toEqual(["ok", "forbidden: requested scopes exceed app ceiling; allowed: [read:data:* write:data:*]", "ok"]);
    // Its injected lock failures were retried; the broker's own 403 was final.
    const overCeiling = proxy.stats.launchLog.filter((l) => l.scope.includes("admin:revoke:*"));
    expect(overCeiling.filter((l) => !l.injected)).toEqual([{ scope: ["admin:revoke:*"], status: 403, injected: false }]);
    expect(overCeiling.at(-1)!.injected).toBe(false);
  });

  it("'app not found' that never clears: a bounded number of attempts, then the AuthorizationError", async () => {
    proxy = await lockingBroker(broker.url, { failLaunch: () => true });
    const e = await clientFor(proxy.url).createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AuthorizationError);
    expect((e as AuthorizationError).problem.detail).toBe("app not found");
    expect(proxy.stats.launchAttempts).toBe(7);
  });

  it("a 500 from app auth that never clears: a bounded number of attempts, then the ProblemResponseError", async () => {
    proxy = await lockingBroker(broker.url, { failAppAuth: () => true });
    const e = await clientFor(proxy.url).createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ProblemResponseError);
    expect(e).toMatchObject({ status: 500, errorCode: "internal_error", message: "Internal Server Error: authentication error" });
    expect(proxy.stats.appAuthAttempts).toBe(6);
    expect(proxy.stats.launchAttempts).toBe(0);
  });

  it("parallel callers waiting on a failed app auth all get its error, and the next call authenticates afresh", async () => {
    proxy = await lockingBroker(broker.url, { failAppAuth: (i) => i <= 6 });
    const client = clientFor(proxy.url);
    const first = await Promise.all(Array.from({ length: 5 }, () => client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).then(() => "ok", (e: unknown) => (e as ProblemResponseError).status)));
    expect(first).toEqual([500, 500, 500, 500, 500]);
    expect(proxy.stats.appAuthAttempts).toBe(6);
    await client.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    expect(proxy.stats.appAuthAttempts).toBe(7);
  });
});
