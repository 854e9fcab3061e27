import { describe, expect, it } from "vitest";
import { runDemo } from "../src/run.js";

describe("pnpm demo", () => {
  it("runs every step as expected and never prints a token", async () => {
    const lines: string[] = [];
    const { ok, steps } = await runDemo((line) => lines.push(line));
    expect(steps.map((s) => `${s.name}: ${s.actual}`)).toEqual([
      "create the agent: agent",
      "validate and print the claims: valid",
      "read its customer: 200",
      "write its order: 200",
      "blocked on another customer: 403",
      "blocked on another order: 403",
      "release: released",
      "the token is dead: dead",
      "the API refuses it: 401",
    ]);
    expect(steps.flatMap((s) => s.exchanges.map((x) => `${x.method} ${x.path} ${String(x.status)}`))).toEqual([
      "POST /v1/app/auth 200",
      "POST /v1/app/launch-tokens 201",
      "GET /v1/challenge 200",
      "POST /v1/register 200",
      "POST /v1/token/validate 200",
      "GET /customers/42 200",
      "POST /orders/7/confirm 200",
      "GET /customers/43 403",
      "POST /orders/8/confirm 403",
      "POST /v1/token/release 204",
      "POST /v1/token/validate 200",
      "GET /customers/42 401",
    ]);
    expect(steps.every((s) => s.ok)).toBe(true);
    expect(ok).toBe(true);
    const trace = lines.join("\n");
    expect(trace).toContain("All 9 steps came out as expected.");
    expect(trace).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // no JWT (nor any base64url JSON) in the trace
  });
});
