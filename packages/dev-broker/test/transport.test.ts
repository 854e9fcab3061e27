/** B.1–B.3 and D.9: request IDs, security headers, routing quirks, body limit, JSON decoding, rate limits. */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, expectProblem, problemText } from "./helpers.js";

let broker: DevBroker;
beforeAll(async () => {
  broker = await startDevBroker({ adminSecret: "s3cret-admin" });
});
afterAll(() => broker.close());

const ROUTES: [string, string][] = [
  ["GET", "/v1/challenge"],
  ["GET", "/v1/health"],
  ["GET", "/v1/metrics"],
  ["POST", "/v1/token/validate"],
  ["POST", "/v1/register"],
  ["POST", "/v1/token/renew"],
  ["POST", "/v1/delegate"],
  ["POST", "/v1/token/release"],
  ["POST", "/v1/revoke"],
  ["GET", "/v1/audit/events"],
  ["POST", "/v1/admin/auth"],
  ["POST", "/v1/admin/launch-tokens"],
  ["POST", "/v1/app/launch-tokens"],
  ["POST", "/v1/admin/apps"],
  ["GET", "/v1/admin/apps"],
  ["GET", "/v1/admin/apps/some-id"],
  ["PUT", "/v1/admin/apps/some-id"],
  ["DELETE", "/v1/admin/apps/some-id"],
  ["POST", "/v1/app/auth"],
];

describe("binding and defaults", () => {
  it("binds 127.0.0.1 on an ephemeral port by default and refuses non-loopback hosts", async () => {
    expect(broker.host).toBe("127.0.0.1");
    expect(broker.port).toBeGreaterThan(0);
    expect(broker.url).toBe(`http://127.0.0.1:${String(broker.port)}`);
    await expect(startDevBroker({ host: "0.0.0.0" })).rejects.toThrow(/loopback/);
  });
});

describe("routing (B.1.3, B.3)", () => {
  it("serves all 19 routes: none of them answers 404 or 405", async () => {
    for (const [method, path] of ROUTES) {
      const r = await call(broker, method, path, method === "GET" || method === "DELETE" ? {} : { body: "{}" });
      expect(r.status, `${method} ${path}`).not.toBe(405);
      expect(r.text, `${method} ${path}`).not.toBe("404 page not found\n");
    }
  });

  it("unknown path → plain-text 404, with security headers", async () => {
    for (const path of ["/", "/v1", "/v1/nope", "/v1/admin/apps/", "/v1/admin/apps/a/b", "/.well-known/jwks.json", "/v1/jwks"]) {
      const r = await call(broker, "GET", path);
      expect(r.status, path).toBe(404);
      expect(r.text).toBe("404 page not found\n");
      expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it("wrong method → plain-text 405 with Allow (DELETE /v1/register, PATCH /v1/token/renew, GET /v1/revoke)", async () => {
    const cases: [string, string, string][] = [
      ["DELETE", "/v1/register", "POST"],
      ["PATCH", "/v1/token/renew", "POST"],
      ["GET", "/v1/revoke", "POST"],
      ["POST", "/v1/health", "GET, HEAD"],
      ["DELETE", "/v1/admin/apps", "GET, HEAD, POST"],
      ["POST", "/v1/admin/apps/x", "DELETE, GET, HEAD, PUT"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(broker, method, path);
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.text).toBe("Method Not Allowed\n");
      expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(r.headers.get("allow")).toBe(allow);
      expect(r.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("HEAD answers on GET routes without a body", async () => {
    const r = await call(broker, "HEAD", "/v1/health");
    expect(r.status).toBe(200);
    expect(r.text).toBe("");
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(Number(r.headers.get("content-length"))).toBeGreaterThan(0);
  });

  it("unclean paths are redirected (301) to the cleaned path, as ServeMux does", async () => {
    const res = await fetch(broker.url + "/v1//health?x=1", { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("/v1/health?x=1");
  });

  it("redirects as the broker's container image (Go ≤ 1.25) answers them: 301, Location escaped as Go's url.URL writes it (Appendix 3)", async () => {
    const raw = (method: string, path: string): Promise<{ status: number; location: string | undefined; type: string | undefined; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(broker.url, { method, path }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, type: res.headers["content-type"], body }));
        });
        req.on("error", reject);
        req.end();
      });
    const cases: [string, string][] = [
      ["//v1/health", "/v1/health"],
      ["/v1/./health", "/v1/health"],
      ["/v1/x/../health?a=b&c", "/v1/health?a=b&c"],
      ["/v1/health/.", "/v1/health"],
      ["//nope/", "/nope/"],
      ["/v1/./%E2%82%AC", "/v1/%E2%82%AC"],
      ["/v1/./a%20b", "/v1/a%20b"],
      ["/v1/./a%3Fb", "/v1/a%3Fb"],
      ["/v1/./a%3Cb%3E", "/v1/a%3Cb%3E"],
      ["/v1/./$&+,:;=@~", "/v1/$&+,:;=@~"],
    ];
    for (const [path, location] of cases) {
      const get = await raw("GET", path);
      expect([get.status, get.location], path).toEqual([301, location]);
      expect(get.type).toBe("text/html; charset=utf-8");
      expect(get.body).toBe(`<a href="${location.replace(/&/g, "&amp;")}">Moved Permanently</a>.\n\n`);
    }
    const post = await raw("POST", "//v1/token/validate");
    expect([post.status, post.location, post.type, post.body]).toEqual([301, "/v1/token/validate", undefined, ""]);
    const head = await raw("HEAD", "/v1/./health");
    expect([head.status, head.location, head.type, head.body]).toEqual([301, "/v1/health", "text/html; charset=utf-8", ""]);
  });
});

describe("request IDs and headers (B.1.1, B.1.2, D.22, D.49)", () => {
  it("echoes a client X-Request-ID verbatim in the header and in request_id", async () => {
    const r = await call(broker, "POST", "/v1/token/validate", { body: { token: "" }, headers: { "X-Request-ID": "my-id_123 xyz" } });
    expect(r.headers.get("x-request-id")).toBe("my-id_123 xyz");
    expect(r.text).toBe(problemText(400, "Bad Request", "invalid_request", "token field is required", "/v1/token/validate", "my-id_123 xyz"));
  });

  it("generates 16 lowercase hex characters when absent", async () => {
    const r = await call(broker, "GET", "/v1/health");
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}$/);
  });

  it("security headers on health, metrics and validate; no HSTS and no CORS over plain HTTP", async () => {
    for (const [method, path] of [["GET", "/v1/health"], ["GET", "/v1/metrics"], ["POST", "/v1/token/validate"]] as const) {
      const r = await call(broker, method, path, method === "POST" ? { body: { token: "x" } } : {});
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      expect(r.headers.get("strict-transport-security")).toBeNull();
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("problem bodies: exact key order, Go titles, instance without the query, trailing newline", async () => {
    const r = await call(broker, "POST", "/v1/token/validate?a=b", { body: "not json" });
    expect(r.text).toBe(problemText(400, "Bad Request", "invalid_request", "malformed JSON body", "/v1/token/validate", r.headers.get("x-request-id")!));
  });
});

describe("body limit (B.1.1, D.20)", () => {
  it("a body over 1 MiB → 413 payload_too_large, with X-Request-ID and no security headers", async () => {
    const big = JSON.stringify({ token: "x".repeat(1 << 20) });
    const r = await call(broker, "POST", "/v1/token/validate", { body: big });
    expectProblem(r, 413, "payload_too_large", "request body must not exceed 1 MB");
    expect(r.json.title).toBe("Request Entity Too Large");
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}$/);
    expect(r.headers.get("x-content-type-options")).toBeNull();
    expect(r.headers.get("cache-control")).toBeNull();
    expect(r.headers.get("x-frame-options")).toBeNull();
  });

  it("exactly 1 MiB is accepted; the limit also applies to GET and unknown paths", async () => {
    const exact = '{"token":"' + "x".repeat((1 << 20) - 12) + '"}';
    expect(Buffer.byteLength(exact)).toBe(1 << 20);
    const ok = await call(broker, "POST", "/v1/token/validate", { body: exact });
    expect(ok.status).toBe(200);
    const over = "x".repeat((1 << 20) + 1);
    expect((await call(broker, "POST", "/v1/nope", { body: over })).status).toBe(413);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(broker.url + "/v1/health", { method: "GET", headers: { "content-length": String(over.length) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end(over);
    });
    expect(status).toBe(413);
  });
});

describe("Go JSON decoding (B.1.4)", () => {
  it("case-insensitive keys, unknown fields ignored, trailing data ignored, no Content-Type check", async () => {
    for (const body of ['{"Token":"abc"}', '{"TOKEN":"abc","extra":[1,{"x":2}]}', '{"token":"abc"} trailing garbage', '  {"token":"abc"}{"token":""}']) {
      const r = await call(broker, "POST", "/v1/token/validate", { body, headers: { "content-type": "text/plain" } });
      expect(r.status, body).toBe(200);
      expect(r.json).toEqual({ valid: false, error: "token is invalid or expired" });
    }
  });

  it("wrong types, empty bodies and non-objects → 400 malformed JSON body; null → missing field", async () => {
    for (const body of ['{"token":123}', '{"token":["a"]}', "", "   ", "[]", '"tok"', "{", '{"token":"a"']) {
      expectProblem(await call(broker, "POST", "/v1/token/validate", { body }), 400, "invalid_request", "malformed JSON body");
    }
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: "null" }), 400, "invalid_request", "token field is required");
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: '{"token":null}' }), 400, "invalid_request", "token field is required");
  });

  it("keys apply in order (a later duplicate wins, whatever its case); null leaves a string field as it was", async () => {
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: '{"token":"x","Token":"y","token":""}' }), 400, "invalid_request", "token field is required");
    expect((await call(broker, "POST", "/v1/token/validate", { body: '{"token":"abc","token":null}' })).status).toBe(200);
    expect((await call(broker, "POST", "/v1/token/validate", { body: '{"token":"\\ud800"}' })).status).toBe(200);
  });

  it("nesting deeper than Go's limit (10,000) anywhere in the first value → 400, even in an unknown field (Appendix 3)", async () => {
    const deep = (n: number): string => "[".repeat(n) + "]".repeat(n);
    // The object itself is level 1: 9,999 more levels are the most Go accepts.
    expect((await call(broker, "POST", "/v1/token/validate", { body: `{"token":"abc","extra":${deep(9999)}}` })).status).toBe(200);
    const tooDeep = `{"token":"abc","extra":${deep(10000)}}`;
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: tooDeep }), 400, "invalid_request", "malformed JSON body");
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: deep(10001) }), 400, "invalid_request", "malformed JSON body");
    const nestedObjects = `{"token":"abc","extra":${'{"a":'.repeat(10000)}1${"}".repeat(10000)}}`;
    expectProblem(await call(broker, "POST", "/v1/token/validate", { body: nestedObjects }), 400, "invalid_request", "malformed JSON body");
    expectProblem(await call(broker, "POST", "/v1/revoke", { token: broker.adminToken(), body: tooDeep }), 400, "invalid_request", "malformed JSON body");
    expectProblem(await call(broker, "POST", "/v1/admin/auth", { body: `{"secret":"s3cret-admin","x":${deep(10000)}}`, headers: { "X-Forwarded-For": "deep" } }), 400, "invalid_request", "malformed JSON body");
    // What follows the first value is never read, however deep.
    expect((await call(broker, "POST", "/v1/token/validate", { body: `{"token":"abc"} ${deep(20000)}` })).status).toBe(200);
  });

  it("success bodies are JSON with a trailing newline and Go's HTML escaping", async () => {
    const token = broker.adminToken();
    const r = await call(broker, "POST", "/v1/revoke", { token, body: { level: "task", target: "a<b>&c" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.text).toBe('{"revoked":true,"level":"task","target":"a\\u003cb\\u003e\\u0026c","count":1}\n');
  });
});

describe("rate limits (B.1.5, D.50)", () => {
  // A pinned clock keeps bucket refills deterministic however slow the machine is.
  let nowNs = 1_800_000_000n * 1_000_000_000n;
  let broker: DevBroker;
  beforeAll(async () => {
    broker = await startDevBroker({ adminSecret: "s3cret-admin", now: () => nowNs });
  });
  afterAll(() => broker.close());

  it("admin auth: burst 10 per IP, then 429 with Retry-After: 1; keys are independent; first XFF entry is the key", async () => {
    const hdr = { "X-Forwarded-For": "198.51.100.7, 10.0.0.1" };
    for (let i = 0; i < 10; i++) {
      const r = await call(broker, "POST", "/v1/admin/auth", { body: { secret: "wrong" }, headers: hdr });
      expect(r.status).toBe(401);
    }
    const limited = await call(broker, "POST", "/v1/admin/auth", { body: { secret: "s3cret-admin" }, headers: { "X-Forwarded-For": "198.51.100.7, 10.9.9.9" } });
    expectProblem(limited, 429, "rate_limited", "rate limit exceeded, try again later");
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(limited.json.title).toBe("Too Many Requests");
    const other = await call(broker, "POST", "/v1/admin/auth", { body: { secret: "s3cret-admin" }, headers: { "X-Forwarded-For": "198.51.100.8" } });
    expect(other.status).toBe(200);
    // Refill at 5/s: 150 ms later still limited, 250 ms later one more request passes.
    nowNs += 150_000_000n;
    expect((await call(broker, "POST", "/v1/admin/auth", { body: { secret: "s3cret-admin" }, headers: hdr })).status).toBe(429);
    nowNs += 100_000_000n;
    expect((await call(broker, "POST", "/v1/admin/auth", { body: { secret: "s3cret-admin" }, headers: hdr })).status).toBe(200);
    expect((await call(broker, "POST", "/v1/admin/auth", { body: { secret: "s3cret-admin" }, headers: hdr })).status).toBe(429);
  });

  it("app auth: burst 3 per client_id, then 429 with Retry-After: 60; falls back to the IP; body still readable", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(broker, "POST", "/v1/app/auth", { body: { client_id: "cid-a", client_secret: "x" } })).status).toBe(401);
    }
    const limited = await call(broker, "POST", "/v1/app/auth", { body: { client_id: "cid-a", client_secret: "x" } });
    expectProblem(limited, 429, "rate_limited", "rate limit exceeded, try again later");
    expect(limited.headers.get("retry-after")).toBe("60");
    expect((await call(broker, "POST", "/v1/app/auth", { body: { client_id: "cid-b", client_secret: "x" } })).status).toBe(401);
    const ipHdr = { "X-Forwarded-For": "203.0.113.50" };
    for (let i = 0; i < 3; i++) expect((await call(broker, "POST", "/v1/app/auth", { body: "not json", headers: ipHdr })).status).toBe(400);
    expect((await call(broker, "POST", "/v1/app/auth", { body: "{}", headers: ipHdr })).status).toBe(429);
    // 10 per minute: one token back after 6 s.
    nowNs += 6_000_000_000n;
    expect((await call(broker, "POST", "/v1/app/auth", { body: { client_id: "cid-a", client_secret: "x" } })).status).toBe(401);
    expect((await call(broker, "POST", "/v1/app/auth", { body: { client_id: "cid-a", client_secret: "x" } })).status).toBe(429);
  });

  it("validate and register are not rate-limited", async () => {
    for (let i = 0; i < 25; i++) expect((await call(broker, "POST", "/v1/token/validate", { body: { token: "x" } })).status).toBe(200);
    for (let i = 0; i < 15; i++) expect((await call(broker, "POST", "/v1/register", { body: {} })).status).toBe(400);
  });
});
