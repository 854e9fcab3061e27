/**
 * Operators can see why: a reason on every refusal, a rate-limited logger that never carries a
 * token, `describe()` and `probe()`, and keys accepted in every form the environment gives them.
 */
import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  computeChainHash,
  consoleLogger,
  createGuard,
  delegationSigningInput,
  GUARD_ERROR_CODES,
  GuardError,
  type DecisionEvent,
  type GuardErrorCode,
  type GuardLogger,
} from "../src/index.js";
import { json, payloadOf, startFakeBroker, type FakeBroker } from "./support/fake-broker.js";
import { b64url, bearer, claims, makeKey, mint, nowSec, signJws } from "./support/tokens.js";

const key = makeKey();
const other = makeKey();
let broker: FakeBroker;
/** A loopback URL where nothing listens (port 9 would be refused by fetch itself as a "bad port"). */
let closedUrl = "";

interface Line {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

function capture(): { logger: GuardLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedUrl = `http://127.0.0.1:${String((probe.address() as AddressInfo).port)}`;
  await new Promise((resolve) => probe.close(resolve));
  broker = await startFakeBroker((req, res, token) => {
    if (req.url === "/v1/health") return json(res, 200, { status: "ok", version: "2.0.0", uptime: 1, db_connected: true, audit_events_count: 0 });
    return json(res, 200, { valid: true, claims: payloadOf(token ?? "") });
  });
});
afterAll(async () => {
  await broker.close();
});

async function refusal(p: Promise<unknown>): Promise<GuardError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof GuardError)) throw new Error(`expected a GuardError, got ${String(e)}`);
  return e;
}

describe("reasons", () => {
  it("every code has a default reason for operators, distinct from the client's detail", () => {
    for (const code of Object.keys(GUARD_ERROR_CODES) as GuardErrorCode[]) {
      const e = new GuardError(code);
      expect(e.reason.length, code).toBeGreaterThan(10);
      expect(e.reason).not.toBe(e.message);
      expect(JSON.stringify(e.problem)).not.toContain(e.reason);
    }
  });

  it("name what to fix: kid, audience, issuer, trust domain, times, subject", async () => {
    const local = createGuard({ publicKey: key.jwk, audience: "orders-api", issuer: "https://broker.example", trustDomain: "prod.example" });
    const unknown = await refusal(local.authenticate(bearer(await mint(other))));
    expect(unknown.code).toBe("unknown_kid");
    expect(unknown.reason).toContain(other.kid);
    expect(unknown.reason).toContain(key.kid);

    const aud = await refusal(local.authenticate(bearer(await mint(key, claims({ iss: "https://broker.example", aud: ["billing-api"] })))));
    expect(aud.code).toBe("audience_mismatch");
    expect(aud.reason).toContain('"billing-api"');
    expect(aud.reason).toContain('"orders-api"');

    const iss = await refusal(local.authenticate(bearer(await mint(key, claims({ iss: "", aud: ["orders-api"] })))));
    expect(iss.code).toBe("issuer_mismatch");
    expect(iss.reason).toContain('iss is ""');
    expect(iss.reason).toContain('"https://broker.example"');

    const td = await refusal(local.authenticate(bearer(await mint(key, claims({ iss: "https://broker.example", aud: ["orders-api"] })))));
    expect(td.code).toBe("trust_domain_mismatch");
    expect(td.reason).toContain('"agentwrit.local"');
    expect(td.reason).toContain('"prod.example"');

    const plain = createGuard({ publicKey: key.jwk });
    const expired = await refusal(plain.authenticate(bearer(await mint(key, claims({ exp: nowSec() - 100 })))));
    expect(expired.reason).toMatch(/expired at \d{4}-\d\d-\d\dT.* s ago/);
    const admin = await refusal(plain.authenticate(bearer(await mint(key, claims({ sub: "admin" })))));
    expect(admin.reason).toContain("allowNonAgentSubjects");
    const forged = await refusal(plain.authenticate(bearer(signJws({ alg: "EdDSA", kid: key.kid }, claims(), other.privateKey))));
    expect(forged.code).toBe("invalid_signature");
    const alg = await refusal(plain.authenticate(bearer(`${b64url({ alg: "none" })}.${b64url(claims())}.`)));
    expect(alg.reason).toContain('"none"');
  });

  it("delegation refusals name the record; parameter refusals the placeholder", async () => {
    const record = (agent: string, scope: string[]) => {
      const r = { agent, scope, delegated_at: "2026-11-30T03:41:12.123456789Z" };
      return { ...r, signature: sign(null, Buffer.from(delegationSigningInput(r)), key.privateKey).toString("hex") };
    };
    const chain = [record("spiffe://agentwrit.local/agent/o/t/root", ["read:data:*"]), record("spiffe://agentwrit.local/agent/o/t/mid", ["read:data:*", "write:data:*"])];
    const guard = createGuard({ publicKey: key.jwk, allowedDelegators: ["spiffe://agentwrit.local/agent/o/t/root"] });
    const widened = await refusal(guard.authenticate(bearer(await mint(key, claims({ scope: ["read:data:x"], delegation_chain: chain, chain_hash: await computeChainHash(chain) })))));
    expect(widened.code).toBe("delegation_widened");
    expect(widened.reason).toContain("delegation_chain[1]");
    const chain2 = [chain[0]!, record("spiffe://agentwrit.local/agent/o/t/mid", ["read:data:*"])];
    const notAllowed = await refusal(guard.authenticate(bearer(await mint(key, claims({ scope: ["read:data:x"], delegation_chain: chain2, chain_hash: await computeChainHash(chain2) })))));
    expect(notAllowed.code).toBe("delegator_not_allowed");
    expect(notAllowed.reason).toContain("delegation_chain[1].agent");
    const badSig = [{ ...chain2[0]!, signature: "00".repeat(64) }];
    const sig = await refusal(createGuard({ publicKey: key.jwk }).authenticate(bearer(await mint(key, claims({ scope: ["read:data:x"], delegation_chain: badSig, chain_hash: await computeChainHash(badSig) })))));
    expect(sig.code).toBe("delegation_signature_invalid");
    expect(sig.reason).toContain("delegation_chain[0]");
    const param = await refusal(guard.verify(bearer(await mint(key)), "read:data:customer-{customerId}", { customerId: "4*" }));
    expect(param.reason).toContain("{customerId}");
  });

  it("broker trouble names status, path or network error; 404/405 is broker_misconfigured (still 503)", async () => {
    const t = bearer(await mint(key));
    const down = await refusal(createGuard({ brokerUrl: closedUrl }).authenticate(t));
    expect(down.code).toBe("broker_unavailable");
    expect(down.reason).toBe(`POST ${closedUrl}/v1/token/validate failed: TypeError (ECONNREFUSED)`);

    const failing = await startFakeBroker((req, res) => json(res, req.url === "/v1/token/validate" ? 502 : 404, { error: "x" }));
    try {
      const wrongPath = await refusal(createGuard({ brokerUrl: failing.url + "/v1" }).authenticate(t));
      expect(wrongPath).toMatchObject({ code: "broker_misconfigured", status: 503 });
      expect(wrongPath.headers["Retry-After"]).toBe("1");
      expect(wrongPath.reason).toContain("/v1/v1/token/validate");
      expect(wrongPath.reason).toContain("HTTP 404");

      const e502 = await refusal(createGuard({ brokerUrl: failing.url }).authenticate(t));
      expect(e502.reason).toContain("answered HTTP 502");
      failing.behaviour = (_req, res) => json(res, 405, {});
      expect((await refusal(createGuard({ brokerUrl: failing.url }).authenticate(t))).code).toBe("broker_misconfigured");
      failing.behaviour = (_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html>");
      };
      expect((await refusal(createGuard({ brokerUrl: failing.url }).authenticate(t))).reason).toContain("not JSON");
      failing.behaviour = (_req, res) => json(res, 200, { valid: false });
      expect((await refusal(createGuard({ brokerUrl: failing.url }).authenticate(t))).reason).toContain("valid:false");
      failing.behaviour = (_req, res) => {
        setTimeout(() => json(res, 200, {}), 500);
      };
      expect((await refusal(createGuard({ brokerUrl: failing.url, brokerTimeoutMs: 50 }).authenticate(t))).reason).toContain("timed out after 50 ms");
    } finally {
      await failing.close();
    }
  });
});

describe("logger", () => {
  it("refusals at debug with code and reason; broker trouble at warn; startup at info with warnings", async () => {
    const { logger, lines } = capture();
    const guard = createGuard({ publicKey: key.jwk, logger });
    expect(lines.find((l) => l.level === "info")?.obj).toMatchObject({ mode: "local", kids: [key.kid] });
    expect(lines.filter((l) => l.level === "warn").map((l) => l.obj.option)).toEqual(["audience", "issuer"]);
    await refusal(guard.authenticate(bearer(await mint(key, claims({ exp: nowSec() - 100 })))));
    expect(lines.at(-1)).toMatchObject({ level: "debug", obj: { outcome: "deny", code: "token_expired", status: 401 } });
    expect(String(lines.at(-1)?.obj.reason)).toContain("expired at");

    const { logger: l2, lines: brokerLines } = capture();
    const hybrid = createGuard({ publicKey: key.jwk, brokerUrl: closedUrl, audience: "a", issuer: "", logger: l2 });
    expect(brokerLines.filter((l) => l.level === "warn")).toHaveLength(0);
    await refusal(hybrid.authenticate(bearer(await mint(key, claims({ aud: ["a"] })))));
    expect(brokerLines.at(-1)).toMatchObject({ level: "warn", obj: { code: "broker_unavailable" } });
  });

  it("a flood of bad tokens cannot flood the log (per level and code), and the next window says how many were dropped", async () => {
    const { logger, lines } = capture();
    const guard = createGuard({ publicKey: key.jwk, audience: "a", issuer: "", logger });
    const startup = lines.length;
    for (let i = 0; i < 500; i++) await refusal(guard.authenticate(`Bearer x${String(i)}.y.z`));
    expect(lines.length - startup).toBeLessThanOrEqual(10);
    // Another code has its own budget.
    await refusal(guard.authenticate(undefined));
    expect(lines.at(-1)?.obj.code).toBe("missing_token");
  });

  it("a logger that throws never changes a decision", async () => {
    const boom = () => {
      throw new Error("logger down");
    };
    const guard = createGuard({ publicKey: key.jwk, logger: { debug: boom, info: boom, warn: boom, error: boom } });
    await expect(guard.authenticate(bearer(await mint(key)))).resolves.toBeDefined();
    await expect(guard.authenticate("Bearer a.b.c")).rejects.toMatchObject({ code: "malformed_token" });
  });

  it("is validated at creation", () => {
    expect(() => createGuard({ publicKey: key.jwk, logger: { info() {} } as unknown as GuardLogger })).toThrow(/debug, info, warn and error/);
  });

  it("AGENTWRIT_LOG levels: a console logger that writes the level and above", () => {
    const out: string[] = [];
    const sink = { debug: (m: string) => out.push("debug " + m), info: (m: string) => out.push("info " + m), warn: (m: string) => out.push("warn " + m), error: (m: string) => out.push("error " + m) };
    const log = consoleLogger("warn", sink);
    log?.debug({}, "a");
    log?.info({}, "b");
    log?.warn({}, "c");
    log?.error({}, "d");
    expect(out).toEqual(["warn agentwrit: c", "error agentwrit: d"]);
    expect(consoleLogger("")).toBeUndefined();
    expect(consoleLogger("verbose")).toBeUndefined();
  });
});

describe("no token text in any reason, log line, event or error", () => {
  it("across every kind of refusal and acceptance", async () => {
    const { logger, lines } = capture();
    const events: DecisionEvent[] = [];
    const tokens: string[] = [];
    const guard = createGuard({ publicKey: key.jwk, brokerUrl: broker.url, audience: "api", logger, onDecision: (e) => events.push(e) });
    const mk = async (c: Record<string, unknown>) => {
      const t = await mint(key, claims(c));
      tokens.push(t);
      return t;
    };
    const errors: unknown[] = [];
    const attempt = async (auth: string | undefined, req?: string, params?: Record<string, unknown>) => {
      await guard.verify(auth, req, params).catch((e: unknown) => errors.push(e));
    };
    await attempt(bearer(await mk({ aud: ["api"] })), "read:data:customer-{id}", { id: "43" });
    await attempt(bearer(await mk({ aud: ["other"] })));
    await attempt(bearer(await mk({ aud: ["api"], exp: nowSec() - 60 })));
    const forged = signJws({ alg: "EdDSA", kid: key.kid }, claims({ aud: ["api"] }), other.privateKey);
    tokens.push(forged);
    await attempt(bearer(forged));
    const embedded = await mk({ aud: [forged], sub: forged });
    await attempt(bearer(embedded));
    await attempt(`Basic ${forged}`);
    await attempt(`Bearer ${forged}, Bearer ${forged}`);
    await attempt(bearer(await mk({ aud: ["api"] })), "read:data:customer-{id}", { id: forged });
    const text = JSON.stringify({
      lines,
      events,
      errors: errors.map((e) => {
        const g = e as GuardError;
        return { m: g.message, r: g.reason, p: g.problem, h: g.headers, c: String(g.cause) };
      }),
    });
    expect(errors.length).toBeGreaterThanOrEqual(7);
    for (const t of tokens) {
      for (const segment of t.split(".")) expect(text).not.toContain(segment);
    }
  });
});

describe("describe() and probe()", () => {
  it("describe: the configuration in force, kids computed as the broker computes them", () => {
    const guard = createGuard({ publicKey: [key.jwk, other.publicKeyPem], brokerUrl: broker.url, audience: "orders-api", trustDomain: "agentwrit.local", maxStalenessSec: 5 });
    expect(guard.describe()).toEqual({
      mode: "hybrid",
      brokerUrl: broker.url,
      kids: [key.kid, other.kid],
      jwksUri: undefined,
      issuer: undefined,
      audience: ["orders-api"],
      maxStalenessSec: 5,
      trustDomain: "agentwrit.local",
      allowNonAgentSubjects: false,
      clockToleranceSec: 5,
      maxDelegationDepth: 5,
      maxTokenBytes: 16384,
      cacheMax: 10000,
      maxParamLength: 256,
      maxChallengeScopes: 16,
    });
  });
  it("probe: ok with version and latency; a wrong path, a dead broker and local mode say why", async () => {
    expect(await createGuard({ brokerUrl: broker.url }).probe()).toMatchObject({ ok: true, version: "2.0.0" });
    const r = await createGuard({ brokerUrl: broker.url }).probe();
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    const notFound = createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => notFound.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${String((notFound.address() as AddressInfo).port)}/v1`;
      const wrong = await createGuard({ brokerUrl: url }).probe();
      expect(wrong.ok).toBe(false);
      expect(wrong.reason).toContain("HTTP 404");
      expect(wrong.reason).toContain("base URL");
    } finally {
      await new Promise((resolve) => notFound.close(resolve));
    }
    const dead = await createGuard({ brokerUrl: closedUrl }).probe();
    expect(dead).toMatchObject({ ok: false });
    expect(dead.reason).toContain("ECONNREFUSED");
    expect(await createGuard({ publicKey: key.jwk }).probe()).toMatchObject({ ok: false, reason: expect.stringContaining("local mode") as unknown });
  });
});

describe("keys: forgiving in form, strict in content", () => {
  it("a PEM with literal \\n (as an env line carries it), a KeyObject, a JWK as JSON text", async () => {
    const oneLine = key.publicKeyPem.trim().replace(/\n/g, "\\n");
    const token = bearer(await mint(key));
    for (const publicKey of [oneLine, createPublicKey(key.publicKeyPem), JSON.stringify(key.jwk)]) {
      await expect(createGuard({ publicKey }).authenticate(token)).resolves.toMatchObject({ source: "local" });
    }
  });
  it("the wrong kind of key says which kind it is", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const x25519 = generateKeyPairSync("x25519").publicKey;
    const ed = generateKeyPairSync("ed25519");
    expect(() => createGuard({ publicKey: rsa.export({ format: "pem", type: "spki" }).toString() })).toThrow(/an RSA key/);
    expect(() => createGuard({ publicKey: ec.export({ format: "pem", type: "spki" }).toString() })).toThrow(/an EC \(ECDSA\) key/);
    expect(() => createGuard({ publicKey: x25519.export({ format: "pem", type: "spki" }).toString() })).toThrow(/an X25519 key/);
    expect(() => createGuard({ publicKey: JSON.stringify(ec.export({ format: "jwk" })) })).toThrow(/kty "EC" crv "P-256"/);
    expect(() => createGuard({ publicKey: rsa })).toThrow(/the KeyObject is rsa/);
    expect(() => createGuard({ publicKey: ed.privateKey })).toThrow(/private KeyObject/);
    expect(() => createGuard({ publicKey: ed.privateKey.export({ format: "pem", type: "pkcs8" }).toString() })).toThrow(/a private key was given/);
    expect(() => createGuard({ publicKey: "{not json" })).toThrow(/not JSON/);
    expect(() => createGuard({ publicKey: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" })).toThrow(/a certificate/);
  });
});
