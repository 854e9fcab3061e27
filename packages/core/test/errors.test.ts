import { describe, expect, it } from "vitest";
import { sign } from "node:crypto";
import { buildChallenge, computeChainHash, createGuard, delegationSigningInput, GUARD_ERROR_CODES, GuardError, isGuardError, quoteHeaderValue, type GuardErrorCode } from "../src/index.js";
import { bearer, claims, makeKey, mint } from "./support/tokens.js";

describe("challenges and problem bodies", () => {
  it("quoted-string escaping", () => {
    expect(quoteHeaderValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quoteHeaderValue("a\r\nb\u0000c\u00e9")).toBe('"abc"');
    expect(buildChallenge({ error: null, realm: 'r"x' })).toBe('Bearer realm="r\\"x"');
    expect(buildChallenge({ error: null })).toBe("Bearer");
  });
  it("every code has a status, a problem body and the right header", () => {
    for (const code of Object.keys(GUARD_ERROR_CODES) as GuardErrorCode[]) {
      const e = new GuardError(code, { realm: "api", resourceMetadataUrl: "https://x.example/.well-known/oauth-protected-resource" });
      expect([400, 401, 403, 500, 503]).toContain(e.status);
      expect(e.problem).toMatchObject({ type: `urn:agentwrit:guard:error:${code}`, status: e.status, code });
      if (e.status === 503) {
        expect(e.headers["Retry-After"]).toBe("1");
        expect(e.wwwAuthenticate).toBeUndefined();
      } else if (e.status === 500) {
        // A wiring mistake in the server: no challenge (the client's token is not at fault).
        expect(e.headers).toEqual({});
        expect(e.expose).toBe(false);
      } else {
        expect(e.headers["WWW-Authenticate"]).toMatch(/^Bearer realm="api"/);
        expect(e.wwwAuthenticate).toContain('resource_metadata="https://x.example/.well-known/oauth-protected-resource"');
      }
    }
    expect(new GuardError("invalid_parameter").wwwAuthenticate).toContain('error="invalid_request"');
  });
  it("isGuardError works across copies and rejects look-alikes", () => {
    const e = new GuardError("token_expired");
    expect(isGuardError(e)).toBe(true);
    const foreign = Object.assign(Object.create(null) as object, { [Symbol.for("@agentwrit/guard.GuardError")]: true, code: "x" });
    expect(isGuardError(foreign)).toBe(true);
    expect(isGuardError({ code: "token_expired", status: 401 })).toBe(false);
    expect(isGuardError(null)).toBe(false);
    expect(e).toBeInstanceOf(Error);
    expect(e.expose).toBe(true);
    expect(new GuardError("broker_unavailable").expose).toBe(false);
  });
  it("an unexpected failure inside verification fails closed: 503 internal_error, cause kept", async () => {
    const key = makeKey();
    const guard = createGuard({
      publicKey: key.jwk,
      allowedDelegators: () => {
        throw new Error("policy bug");
      },
    });
    const record = { agent: "spiffe://agentwrit.local/agent/o/t/a", scope: ["read:data:*"], delegated_at: "2026-01-01T00:00:00Z" };
    const chain = [{ ...record, signature: sign(null, Buffer.from(delegationSigningInput(record)), key.privateKey).toString("hex") }];
    const token = await mint(key, claims({ scope: ["read:data:x"], delegation_chain: chain, chain_hash: await computeChainHash(chain) }));
    const err = await guard.authenticate(bearer(token)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "internal_error", status: 503, headers: { "Retry-After": "1" } });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
  it("a throwing onDecision listener never changes a decision", async () => {
    const key = makeKey();
    const guard = createGuard({
      publicKey: key.jwk,
      onDecision: () => {
        throw new Error("listener bug");
      },
    });
    await expect(guard.authenticate(bearer(await mint(key)))).resolves.toBeDefined();
    await expect(guard.authenticate("Bearer x.y.z")).rejects.toMatchObject({ code: "malformed_token" });
  });
});
