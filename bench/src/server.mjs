// One HTTP server per process: GET /orders/:id answering {"ok":true}, bare or behind a guard.
// Started with child_process.fork; reports {type: "ready", port} over IPC; exits with its parent.
// Control channel: {type: "cpu"} is answered with this process's CPU time (process.cpuUsage(),
// µs) and its main thread's (mainUs), so that the parent reads the server's own CPU time around exactly each measured window;
// {type: "stats"} with the guard's stats (no guard: null); {type: "profile-start"} and
// {type: "profile-stop"} bracket a CPU profile of one window, answered with where the CPU went
// (lib/profile.mjs `attribute`: the guard's own share); {type: "tick"} with what one
// `process.nextTick` costs in this process now (ns, median of 7 batches of 1,000): on Node 20 a
// process can lose V8's inline caches for it after an idle spell (bench/README.md, "nextTick"),
// which adds microseconds per request to whichever server it happens in.
import { readFileSync } from "node:fs";
import { Session } from "node:inspector";
import { attribute, OWNERS } from "./lib/profile.mjs";
import { tickCost } from "./lib/tick.mjs";
import { AUDIENCE, ISSUER } from "./lib/tokens.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
/**
 * The main thread's own CPU time (µs): user + system time of the thread whose id is the
 * process's, from Linux's /proc (in clock ticks of 10 ms: over a measured window of ~5 s and
 * tens of thousands of requests, well under 0.1 µs per request). The rest of the process's CPU is
 * other threads' (V8's garbage-collection helpers, libuv's pool). `undefined` without /proc.
 */
function mainThreadUs() {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}
process.on("disconnect", () => process.exit(0));

let guardOfServer;
let profiler;
process.on("message", (m) => {
  if (m?.type === "cpu") {
    const u = process.cpuUsage();
    process.send({ type: "cpu", us: u.user + u.system, mainUs: mainThreadUs() });
  } else if (m?.type === "stats") {
    process.send({ type: "stats", stats: guardOfServer?.stats() ?? null });
  } else if (m?.type === "tick") {
    tickCost().then((ns) => process.send({ type: "tick", ns }));
  } else if (m?.type === "profile-start") {
    // A CPU profile of exactly one measured window (the inspector in this process, 100 µs samples).
    profiler = new Session();
    profiler.connect();
    profiler.post("Profiler.enable", () =>
      profiler.post("Profiler.setSamplingInterval", { interval: 100 }, () => profiler.post("Profiler.start", () => process.send({ type: "profile-start" }))),
    );
  } else if (m?.type === "profile-stop") {
    profiler.post("Profiler.stop", (err, result) => {
      profiler.disconnect();
      process.send({ type: "profile-stop", ...(err ? { error: String(err) } : { attribution: attribute(result.profile, 8, OWNERS[cfg.variant === "honojwt" ? "hono/jwt" : "guard"]) }) });
    });
  }
});

const BODY = { ok: true };
/**
 * The `floor` variants: a middleware (hook) that only reads the Authorization header as our
 * adapter does and stores a constant, so that the framework's own price of running any
 * authentication middleware is measured apart from the guard's.
 */
const FLOOR_AGENT = Object.freeze({ agentId: "floor" });

function guardOptions() {
  const common = { publicKey: cfg.publicKeyPem, issuer: ISSUER, audience: AUDIENCE };
  if (cfg.variant === "local" || cfg.variant === "handler") return { ...common, mode: "local" };
  if (cfg.variant === "hybrid") return { ...common, mode: "hybrid", brokerUrl: cfg.brokerUrl, maxStalenessSec: cfg.maxStalenessSec ?? 5 };
  throw new Error(`no guard for variant ${cfg.variant}`);
}

async function expressServer() {
  const { default: express } = await import("express");
  const app = express();
  const handler = (_req, res) => {
    res.json(BODY);
  };
  if (cfg.variant === "bare") {
    app.get("/orders/:id", handler);
  } else if (cfg.variant === "floor") {
    const { authorizationFromRawHeaders } = await import("@agentwrit/guard");
    const floor = (req, _res, next) => {
      req.agentwrit = authorizationFromRawHeaders(req.rawHeaders) === undefined ? undefined : FLOOR_AGENT;
      next();
    };
    app.get("/orders/:id", floor, handler);
  } else if (cfg.variant === "a0") {
    const { auth } = await import("express-oauth2-jwt-bearer");
    app.get("/orders/:id", auth({ issuer: ISSUER, audience: AUDIENCE, publicKey: cfg.publicKeyPem, tokenSigningAlg: "EdDSA" }), handler);
  } else if (cfg.variant === "handler") {
    // The guard inside the route's one handler (`guarded`): no router layer of its own.
    const { guarded, createGuard } = await import("@agentwrit/guard-express");
    guardOfServer = createGuard(guardOptions());
    app.get("/orders/:id", guarded(guardOfServer, handler));
  } else {
    const { agentwritGuard, createGuard } = await import("@agentwrit/guard-express");
    guardOfServer = createGuard(guardOptions());
    app.get("/orders/:id", agentwritGuard(guardOfServer), handler);
  }
  // Refusals (A0 throws them to next()) are answered without logging a stack per request.
  app.use((err, _req, res, _next) => {
    res.status(err.status ?? 500).set(err.headers ?? {}).end();
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(0, "127.0.0.1", (err) => {
      if (err) reject(err);
      else resolve(server.address().port);
    });
  });
}

async function fastifyServer() {
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  const handler = async () => BODY;
  if (cfg.variant === "bare" || cfg.variant === "bare-plugin") {
    // `bare-plugin`: the same route in an app that registers one (empty) encapsulated plugin, as
    // any app structured in plugins does; Fastify then boots through the path an onReady hook takes.
    if (cfg.variant === "bare-plugin") app.register(async () => {});
    app.get("/orders/:id", handler);
  } else if (cfg.variant === "floor" || cfg.variant === "floor-onready") {
    const { authorizationFromRawHeaders } = await import("@agentwrit/guard");
    app.decorateRequest("agentwrit", undefined);
    // `floor-onready`: the same, plus an empty onReady hook (our plugin adds one, for its ready() check).
    if (cfg.variant === "floor-onready") app.addHook("onReady", async () => {});
    const floor = (request, _reply, done) => {
      request.agentwrit = authorizationFromRawHeaders(request.raw.rawHeaders) === undefined ? undefined : FLOOR_AGENT;
      done();
    };
    app.get("/orders/:id", { onRequest: [floor] }, handler);
  } else if (cfg.variant === "fjwt-cache" || cfg.variant === "fjwt-nocache") {
    const { default: fastifyJwt } = await import("@fastify/jwt");
    await app.register(fastifyJwt, {
      secret: { public: cfg.publicKeyPem },
      verify: { algorithms: ["EdDSA"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: cfg.variant === "fjwt-cache" },
    });
    app.get("/orders/:id", { onRequest: [async (request) => request.jwtVerify()] }, handler);
  } else {
    const { agentwrit, createGuard } = await import("@agentwrit/guard-fastify");
    guardOfServer = createGuard(guardOptions());
    await app.register(agentwrit, { guard: guardOfServer });
    app.get("/orders/:id", { onRequest: [app.agentwritGuard()] }, handler);
  }
  await app.listen({ port: 0, host: "127.0.0.1" });
  return app.server.address().port;
}

async function honoServer() {
  const { Hono } = await import("hono");
  const { serve } = await import("@hono/node-server");
  const app = new Hono();
  const handler = (c) => c.json(BODY);
  if (cfg.variant === "bare") {
    app.get("/orders/:id", handler);
  } else if (cfg.variant === "floor") {
    const floor = async (c, next) => {
      c.set("agentwrit", c.req.header("authorization") === undefined ? undefined : FLOOR_AGENT);
      await next();
    };
    app.get("/orders/:id", floor, handler);
  } else if (cfg.variant === "honojwt") {
    const { jwt } = await import("hono/jwt");
    // A pre-imported CryptoKey: the cheapest form hono/jwt accepts (a PEM string is re-imported per request).
    const der = Buffer.from(cfg.publicKeyPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
    const key = await globalThis.crypto.subtle.importKey("spki", der, { name: "Ed25519" }, false, ["verify"]);
    app.get("/orders/:id", jwt({ secret: key, alg: "EdDSA", verification: { iss: ISSUER, aud: AUDIENCE } }), handler);
  } else if (cfg.variant === "handler") {
    // The guard inside the route's one handler (`guarded`): Hono then composes no middleware chain.
    const { guarded, createGuard } = await import("@agentwrit/guard-hono");
    guardOfServer = createGuard(guardOptions());
    app.get("/orders/:id", guarded(guardOfServer, handler));
  } else {
    const { agentwritGuard, createGuard } = await import("@agentwrit/guard-hono");
    guardOfServer = createGuard(guardOptions());
    app.get("/orders/:id", agentwritGuard(guardOfServer), handler);
  }
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      resolve(info.port);
    });
    server.once("error", reject);
  });
}

const servers = { express: expressServer, fastify: fastifyServer, hono: honoServer };

servers[cfg.framework]().then(
  (port) => process.send({ type: "ready", port }),
  (e) => {
    process.send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () => process.exit(1));
  },
);
