/**
 * One table, three adapters: every case must produce the same status, `WWW-Authenticate`,
 * `Retry-After` and problem `code` through Express, Fastify and Hono, with one guard shared by all.
 */
import { createGuard, PROBLEM_CONTENT_TYPE } from "@agentwrit/guard";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedPortUrl, silentBroker } from "../support/servers.js";
import { CASES } from "./cases.js";
import { AUDIENCE, setUpTokens, type Fixture } from "./fixtures.js";
import { expressAdapter, fastifyAdapter, honoAdapter, type Adapter, type Answer, type Guards } from "./harness.js";

let fixture: Fixture;
let guards: Guards;
let adapters: Adapter[];
let slow: Awaited<ReturnType<typeof silentBroker>>;

beforeAll(async () => {
  fixture = await setUpTokens();
  slow = await silentBroker();
  // maxTokenBytes below the default (16 KiB, which Node's own header limit answers first with 431) so that
  // the cap itself is exercised over HTTP on every adapter.
  const common = { publicKey: fixture.broker.publicKeyPem, audience: AUDIENCE, issuer: "", realm: "conformance", maxTokenBytes: 8192 } as const;
  guards = {
    main: createGuard({ ...common, brokerUrl: fixture.broker.url, trustDomain: "agentwrit.local", maxDelegationDepth: 1 }),
    down: createGuard({ ...common, brokerUrl: await closedPortUrl(), brokerTimeoutMs: 1000 }),
    slow: createGuard({ ...common, brokerUrl: slow.url, brokerTimeoutMs: 150 }),
  };
  adapters = [expressAdapter(guards), await fastifyAdapter(guards), honoAdapter(guards)];
});

afterAll(async () => {
  await Promise.all([...adapters.map((a) => a.close()), fixture.close(), slow.close()]);
});

describe("conformance", () => {
  it("has at least 40 cases with unique names", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)("$name → $status $code ($source)", async (c) => {
    const authorization = c.auth(fixture.tokens);
    const answers: [string, Answer][] = [];
    for (const adapter of adapters) answers.push([adapter.name, await adapter.send(c.path ?? "/main/plain", authorization)]);

    const observed = (a: Answer) => ({ status: a.status, wwwAuthenticate: a.wwwAuthenticate, retryAfter: a.retryAfter, code: a.body.code });
    const [first] = answers;
    for (const [name, answer] of answers) expect({ adapter: name, ...observed(answer) }).toEqual({ adapter: name, ...observed(first![1]) });

    const answer = first![1];
    if (c.status === 200) {
      expect(answer.status).toBe(200);
      expect(typeof answer.body.agent).toBe("string");
      return;
    }
    const err = guards.main.error(c.code!, c.scope === undefined ? {} : { scope: c.scope });
    expect(answer.status).toBe(c.status);
    expect(answer.body).toMatchObject({ code: c.code, status: c.status, type: `urn:agentwrit:guard:error:${c.code!}` });
    expect(answer.wwwAuthenticate).toBe(c.challenge ?? err.wwwAuthenticate);
    expect(answer.retryAfter).toBe(c.status === 503 ? "1" : undefined);
    for (const [, a] of answers) expect(a.mediaType).toBe(PROBLEM_CONTENT_TYPE);
    if (c.scope !== undefined) expect(answer.body.scope).toEqual(c.scope);
  });

  it("shares one guard, and so one cache, between the three adapters", async () => {
    const before = guards.main.stats();
    for (const adapter of adapters) expect((await adapter.send("/main/exact", `Bearer ${fixture.tokens.ok ?? ""}`)).status).toBe(200);
    const after = guards.main.stats();
    expect(after.cacheSize).toBe(before.cacheSize);
    // Hybrid mode with maxStalenessSec 0 asks the broker each time: one call per adapter.
    expect(after.brokerCalls - before.brokerCalls).toBe(3);
  });
});
