import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction } from "fastify";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearer, claims, makeKey, mint } from "../../../test/support/tokens.js";
import { closedPortUrl } from "../../../test/support/servers.js";
import { agentwrit, anyOf, createGuard, type AgentIdentity, type AgentWritHook, type AgentWritPluginOptions, type Guard } from "../src/index.js";

const key = makeKey();
const other = makeKey();
const token = mint(key);
const guard = createGuard({ publicKey: key.publicKeyPem, realm: "api" });
const auth = (t: string) => ({ authorization: bearer(t) });

async function build(opts: AgentWritPluginOptions | Guard, routes: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(agentwrit, opts);
  routes(app);
  await app.ready();
  return app;
}

const handler = async (request: { agentwrit: unknown }) => ({ agent: request.agentwrit });

describe("fastify plugin", () => {
  let app: FastifyInstance;
  const routes = (a: FastifyInstance): void => {
    a.get("/me", { onRequest: [a.agentwritGuard()] }, async (request) => ({ agent: request.agentwrit?.agentId }));
    a.get("/orders/:id", { onRequest: a.agentwritGuard("write:data:order-{id}") }, handler);
    a.get("/both", { preHandler: a.agentwritGuard(["read:data:customer-42", "write:data:x", "admin:all:x"]) }, handler);
    a.get("/either", { onRequest: a.agentwritGuard(anyOf("admin:all:x", "read:data:customer-42")) }, handler);
    a.get("/cfg/:id", { config: { agentwrit: { scope: "write:data:order-{id}" } } }, handler);
    a.get("/cfg-auth", { config: { agentwrit: {} } }, handler);
    a.get("/chain/:id", { onRequest: [a.agentwritGuard(), a.requireScope("write:data:order-{id}")] }, handler);
    a.get("/chain-any", { onRequest: [a.agentwritGuard(), a.requireAnyScope("admin:all:x", "write:data:order-7")] }, handler);
    a.get("/unguarded", { onRequest: a.requireScope("read:data:customer-42") }, handler);
    a.get("/open", handler);
    const forge = async (request: FastifyRequest): Promise<void> => {
      request.agentwrit = { agentId: "x", scope: ["read:data:customer-42"] } as unknown as AgentIdentity;
    };
    a.get("/forged", { onRequest: [forge, a.requireScope("read:data:customer-42")] }, handler);
  };

  it("lets a valid agent through with request.agentwrit set", async () => {
    app = await build({ guard }, routes);
    const res = await app.inject({ url: "/me", headers: auth(token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ agent: claims().sub });
    // An unguarded route: no agent (undefined, as on every adapter).
    expect((await app.inject({ url: "/open" })).json()).toEqual({});
  });

  it("answers 401 with a bare challenge, problem+json, when no token is sent", async () => {
    const res = await app.inject({ url: "/me" });
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="api"');
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json(;|$)/);
    expect(res.json()).toMatchObject({ code: "missing_token" });
  });

  it("answers 401 invalid_token for a forged signature and refuses duplicate headers", async () => {
    const forged = await app.inject({ url: "/me", headers: auth(mint(other, claims(), { kid: key.kid })) });
    expect(forged.statusCode).toBe(401);
    expect(forged.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect(forged.json().code).toBe("invalid_signature");
    const dup = await app.inject({ url: "/me", headers: { authorization: [bearer(token), bearer(token)] } as never });
    expect(dup.statusCode).toBe(401);
    expect(dup.json().code).toBe("malformed_authorization");
  });

  it("binds templates to request.params; unsafe values are 400", async () => {
    expect((await app.inject({ url: "/orders/7", headers: auth(token) })).statusCode).toBe(200);
    const denied = await app.inject({ url: "/orders/8", headers: auth(token) });
    expect(denied.statusCode).toBe(403);
    expect(denied.headers["www-authenticate"]).toContain('scope="write:data:order-8"');
    const bad = await app.inject({ url: "/orders/%2A", headers: auth(token) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe("invalid_parameter");
  });

  it("names every missing scope in a 403, and accepts any-of", async () => {
    const res = await app.inject({ url: "/both", headers: auth(token) });
    expect(res.statusCode).toBe(403);
    expect(res.headers["www-authenticate"]).toContain('scope="write:data:x admin:all:x"');
    expect((await app.inject({ url: "/either", headers: auth(token) })).statusCode).toBe(200);
  });

  it("enforces route config.agentwrit through onRoute", async () => {
    expect((await app.inject({ url: "/cfg/7", headers: auth(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: "/cfg/8", headers: auth(token) })).statusCode).toBe(403);
    expect((await app.inject({ url: "/cfg/7" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/cfg-auth", headers: auth(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: "/cfg-auth" })).statusCode).toBe(401);
  });

  it("requireScope / requireAnyScope check the agent verified earlier, 500 guard_not_mounted without one", async () => {
    expect((await app.inject({ url: "/chain/7", headers: auth(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: "/chain/9", headers: auth(token) })).statusCode).toBe(403);
    expect((await app.inject({ url: "/chain-any", headers: auth(token) })).statusCode).toBe(200);
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const res = await app.inject({ url: "/unguarded", headers: auth(token) });
    expect(res.statusCode).toBe(500);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json()).toMatchObject({ code: "guard_not_mounted" });
    const forged = await app.inject({ url: "/forged" });
    expect([forged.statusCode, forged.json().code]).toEqual([500, "guard_not_mounted"]);
    errors.mockRestore();
  });

  it("answers 503 with Retry-After when the broker is down", async () => {
    const down = await build({ brokerUrl: await closedPortUrl(), brokerTimeoutMs: 500 }, routes);
    const res = await down.inject({ url: "/me", headers: auth(token) });
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.json().code).toBe("broker_unavailable");
  });

  it("accepts a Guard instance as the options and shares its cache", async () => {
    const shared = createGuard({ publicKey: key.jwk });
    const a = await build(shared, routes);
    expect((await a.inject({ url: "/me", headers: auth(token) })).statusCode).toBe(200);
    expect((await a.inject({ url: "/orders/7", headers: auth(token) })).statusCode).toBe(200);
    expect(shared.stats().cacheSize).toBe(1);
  });
});

describe("hooks", () => {
  it("decide a cached token synchronously (callback style: done before the hook returns, no promise)", async () => {
    const shared = createGuard({ publicKey: key.jwk });
    let hook: AgentWritHook | undefined;
    let syncDone: boolean[] = [];
    const app = await build(shared, (a) => {
      const check = a.agentwritGuard("read:data:customer-42");
      hook = check;
      const probe = function (this: unknown, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
        const seen = { done: false };
        const returned: unknown = check(request, reply, () => {
          seen.done = true;
          done();
        });
        syncDone.push(seen.done && returned === undefined);
      };
      a.get("/probe", { onRequest: probe }, async (request) => ({ agent: request.agentwrit?.agentId }));
    });
    expect((await app.inject({ url: "/probe", headers: auth(token) })).json()).toEqual({ agent: claims().sub });
    expect(syncDone).toEqual([false]); // first time: the signature is verified asynchronously
    syncDone = [];
    expect((await app.inject({ url: "/probe", headers: auth(token) })).json()).toEqual({ agent: claims().sub });
    expect(syncDone).toEqual([true]);
    expect(hook).toBeTypeOf("function");
    await app.close();
  });

  it("called with two arguments (from an app's own async hook), return a promise settled once the check is done (a refusal sent)", async () => {
    const outcomes: unknown[] = [];
    const app = await build({ guard }, (a) => {
      const check = a.agentwritGuard("write:data:order-{id}");
      const own = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
        const settled = check(request, reply);
        expect(settled).toBeInstanceOf(Promise);
        // A refusal resolves with the reply, which is a thenable: awaiting it waits for the response.
        await settled;
        outcomes.push(reply.sent ? "sent" : undefined);
      };
      a.get("/own/:id", { onRequest: own }, handler);
    });
    expect((await app.inject({ url: "/own/7", headers: auth(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: "/own/7", headers: auth(token) })).statusCode).toBe(200);
    const denied = await app.inject({ url: "/own/8", headers: auth(token) });
    expect([denied.statusCode, denied.json().code]).toEqual([403, "insufficient_scope"]);
    expect((await app.inject({ url: "/own/7" })).statusCode).toBe(401);
    expect(outcomes).toEqual([undefined, undefined, "sent", "sent"]);
    await app.close();
  });

  it("turns a falsy throw or rejection inside the guard into a 500, never done(undefined) (which Fastify reads as a pass)", async () => {
    const failing = createGuard({ publicKey: key.publicKeyPem });
    const reached = vi.fn();
    const app = await build(failing, (a) => {
      a.get("/", { onRequest: a.agentwritGuard() }, async () => {
        reached();
        return { ok: true };
      });
    });
    const cached = vi.spyOn(failing, "verifyCached").mockImplementation(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the hostile case under test
      throw undefined;
    });
    const sync = await app.inject({ url: "/", headers: auth(token) });
    expect(sync.statusCode).toBe(500);
    cached.mockReturnValue(undefined);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the hostile case under test
    vi.spyOn(failing, "verify").mockImplementation(() => Promise.reject(undefined));
    const async = await app.inject({ url: "/", headers: auth(token) });
    expect(async.statusCode).toBe(500);
    expect(reached).not.toHaveBeenCalled();
    await app.close();
  });
});

describe("construction", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("reads AGENTWRIT_* from process.env when given no configuration", async () => {
    vi.stubEnv("AGENTWRIT_PUBLIC_KEY", key.publicKeyPem.replace(/\n/g, "\\n"));
    vi.stubEnv("AGENTWRIT_BROKER_URL", "");
    const app = Fastify();
    await app.register(agentwrit, { prefix: "/" });
    app.get("/", { onRequest: app.agentwritGuard("read:data:customer-42") }, handler);
    expect((await app.inject({ url: "/", headers: auth(token) })).statusCode).toBe(200);
  });

  it("fails clearly at startup without configuration, or with a bad requirement", async () => {
    for (const name of ["AGENTWRIT_BROKER_URL", "AGENTWRIT_PUBLIC_KEY"]) vi.stubEnv(name, "");
    const bare = Fastify();
    await expect(bare.register(agentwrit).ready()).rejects.toThrow(/AGENTWRIT_BROKER_URL/);
    const app = Fastify();
    await app.register(agentwrit, { guard });
    expect(() => app.agentwritGuard("nope")).toThrow(TypeError);
    expect(() => app.requireScope()).toThrow(TypeError);
    expect(() => app.get("/x", { config: { agentwrit: { scope: "bad" } } }, handler)).toThrow(TypeError);
  });
});
