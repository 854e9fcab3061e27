/**
 * Adapter-level properties (fast-check), next to the core's own (packages/core/test/properties.test.ts,
 * run in the same `pnpm test:security`): through Express, Fastify and Hono, an arbitrary
 * `Authorization` header or an arbitrary route-param string never produces a 2xx unless the token
 * is genuine and its scope covers the filled requirement, and never a 5xx other than 503.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createGuard } from "@agentwrit/guard";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adaptersFor, type Adapter } from "../conformance/harness.js";
import { Report } from "./report.js";
import { minter, type Minter } from "./tokens.js";

const AUDIENCE = "props-api";
const AGENT = "spiffe://agentwrit.local/agent/orch-1/task-1/0123456789abcdef";
const RUNS = 120;
const report = new Report();
let broker: DevBroker;
let m: Minter;
let adapters: Adapter[];
const genuine = new Set<string>();

function claims(scope: unknown): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: "", sub: AGENT, aud: [AUDIENCE], exp: now + 600, nbf: now, iat: now, jti: randomBytes(16).toString("hex"), scope, task_id: "task-1", orch_id: "orch-1" };
}
function genuineToken(scope: unknown): string {
  const t = m.broker(claims(scope));
  genuine.add(t);
  return t;
}

beforeAll(async () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  broker = await startDevBroker({ signingKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), audience: AUDIENCE });
  m = minter(privateKey, broker.kid);
  const guard = createGuard({ brokerUrl: broker.url, publicKey: broker.publicKeyPem, audience: AUDIENCE, issuer: "" });
  adapters = await adaptersFor([
    { path: "/p", guard },
    { path: "/t/:id", guard, requirement: "write:data:order-{id}" },
  ]);
});

afterAll(async () => {
  await Promise.all([...adapters.map((a) => a.close()), broker.close()]);
  report.write();
});

// Characters Node, undici and light-my-request all accept in a header value (no CR, LF, NUL or other controls).
const headerChar = fc.oneof(
  fc.constantFrom(" ", "\t", ".", "-", "_", "=", "+", "/", ",", "~", "B", "e", "a", "r", "%", "\u00e9", "\u00ff"),
  fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
);
const headerText = fc.array(headerChar, { maxLength: 120 }).map((cs) => cs.join(""));

describe("adapter properties", () => {
  it("an arbitrary Authorization header: 2xx only for a genuine token, no 5xx but 503", async () => {
    const tally = report.get("properties: Authorization header");
    const base = [genuineToken(["write:data:order-7"]), genuineToken(["read:data:*"])];
    const tokenish = fc.oneof(
      fc.constantFrom(...base),
      // A genuine token, mutated at one position.
      fc.tuple(fc.constantFrom(...base), fc.nat(), headerChar).map(([t, i, c]) => t.slice(0, i % t.length) + c + t.slice((i % t.length) + 1)),
      // A genuine token with something before or after it.
      fc.tuple(fc.constantFrom(...base), headerText, headerText).map(([t, a, b]) => a + t + b),
      // Attacker-signed with the broker's kid.
      fc.constant(m.forged(claims(["write:data:order-7"]))),
      headerText,
    );
    const header = fc.oneof(
      fc.tuple(fc.constantFrom("Bearer ", "bearer ", "BEARER\t", "Bearer  ", "Basic ", "Bearer", "", " Bearer "), tokenish, fc.constantFrom("", " ", "\t", ",", " x")).map(([s, t, e]) => s + t + e),
      headerText,
    );
    const statuses = new Map<number, number>();
    const misses: string[] = [];
    await fc.assert(
      fc.asyncProperty(header, async (value) => {
        for (const adapter of adapters) {
          const a = await adapter.send("/p", value);
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          const m2 = /^bearer[ \t]+([^ \t]+)$/i.exec(value.trim());
          const isGenuine = m2 !== null && genuine.has(m2[1] ?? "");
          const ok = (a.status < 300 ? a.status === 200 && isGenuine : true) && (a.status < 500 || a.status === 503) && a.status !== 0;
          if (!tally.check(adapter.name, ok)) misses.push(`${adapter.name}: status ${a.status} for a header of ${value.length} chars`);
        }
        return misses.length === 0;
      }),
      { numRuns: RUNS },
    );
    tally.figure("statuses", [...statuses].sort().map(([s, n]) => `${s}×${n}`).join(" "));
    expect(misses).toEqual([]);
  });

  it("an arbitrary route param: 2xx only when the genuine token's scope covers the filled requirement", async () => {
    const tally = report.get("properties: route params");
    const value = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: "grapheme", maxLength: 8 }),
      fc.constantFrom("*", "%2A", "..", ".", "a/b", "42", "7", "\u00e9", "e\u0301", "order-7", "7*", " 7", "{id}", "%", "\u202e7"),
    ).filter((v) => {
      try {
        encodeURIComponent(v);
        return true;
      } catch {
        return false;
      }
    });
    const statuses = new Map<number, number>();
    const misses: string[] = [];
    // eslint-disable-next-line no-control-regex -- the guard's own rule for bound values, restated
    const unsafe = /[*%{}\s\u0000-\u001f\u007f]/;
    await fc.assert(
      fc.asyncProperty(value, value, fc.nat(5), fc.boolean(), async (v, w, pick, forged) => {
        const held = [["write:data:*"], [`write:data:order-${v}`], [`write:data:order-${w}`], ["read:data:*"], [`write:data:order-${v}`, `write:data:order-${w}`], []][pick] ?? [];
        const token = forged ? m.forged(claims(held)) : genuineToken(held);
        for (const adapter of adapters) {
          const a = await adapter.send(`/t/${encodeURIComponent(v)}`, `Bearer ${token}`);
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          const bound = (a.body.params as Record<string, unknown> | undefined)?.id;
          let ok = a.status < 500 || a.status === 503;
          if (a.status >= 200 && a.status < 300) {
            // The value the framework bound, as the handler saw it, must be safe and exactly covered.
            const filled = `write:data:order-${String(bound)}`;
            ok &&= !forged && typeof bound === "string" && bound !== "" && !unsafe.test(bound) && held.some((h) => h === "write:data:*" || h === filled);
          }
          if (a.status === 403) ok &&= !forged;
          if (!tally.check(adapter.name, ok)) misses.push(`${adapter.name}: ${a.status} for /t/${encodeURIComponent(v)} holding ${JSON.stringify(held)} (forged: ${forged})`);
        }
        return misses.length === 0;
      }),
      { numRuns: RUNS },
    );
    tally.figure("statuses", [...statuses].sort().map(([s, n]) => `${s}×${n}`).join(" "));
    expect(misses).toEqual([]);
  });
});
