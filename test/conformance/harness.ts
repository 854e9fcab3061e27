/**
 * The same routes on each adapter, and one way to send a request through each framework's own
 * test path (supertest on a real Express app, `app.inject` for Fastify, `app.request` for Hono),
 * or over real HTTP on 127.0.0.1 (`listen`). The conformance suite and the security suite
 * (test/security) both build their apps here from a list of {@link RouteSpec}s.
 */
import { agentwritGuard as expressGuard, requireScope as expressRequireScope } from "@agentwrit/guard-express";
import { agentwrit as fastifyPlugin } from "@agentwrit/guard-fastify";
import { agentwritGuard as honoGuard, requireScope as honoRequireScope } from "@agentwrit/guard-hono";
import { anyOf, type Guard, type Requirement } from "@agentwrit/guard";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { Hono } from "hono";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import request from "supertest";

export type GuardName = "main" | "down" | "slow";
export type Guards = Readonly<Record<GuardName, Guard>>;

/** Route path (Hono/Fastify syntax), and its requirement on the `main` guard. */
export const ROUTES: readonly (readonly [string, Requirement | undefined])[] = [
  ["/main/plain", undefined],
  ["/main/exact", "read:data:customer-42"],
  ["/main/all", ["read:data:customer-42", "write:data:x", "admin:all:x"]],
  ["/main/any", anyOf("admin:all:x", "read:data:customer-42")],
  ["/main/any-missing", anyOf("admin:all:x", "admin:all:y")],
  ["/main/family", "read:data:customer-*"],
  ["/main/family-missing", "write:data:invoice-*"],
  ["/main/orders/:id", "write:data:order-{id}"],
  ["/main/opt/:id?", "write:data:order-{id}"],
];

export interface Answer {
  readonly status: number;
  readonly wwwAuthenticate: string | undefined;
  readonly retryAfter: string | undefined;
  readonly mediaType: string | undefined;
  readonly body: Record<string, unknown>;
}

/** `undefined`: no header; a list: that many `Authorization` headers. */
export type Authorization = string | readonly string[] | undefined;

export interface Adapter {
  readonly name: string;
  /** `headers`: further request headers (e.g. a `Cookie`). */
  send(path: string, authorization: Authorization, headers?: Readonly<Record<string, string>>): Promise<Answer>;
  close(): Promise<void>;
}

/** One guarded GET route. Handlers answer `{ agent, params }` (the route params the framework bound). */
export interface RouteSpec {
  /** Hono/Fastify syntax (`/orders/:id`, optional `/:id?` last). */
  readonly path: string;
  readonly guard: Guard;
  readonly requirement?: Requirement | undefined;
  /**
   * Use the adapter's options/config form (Express `agentwritGuard({ guard })`, Fastify route
   * `config.agentwrit`) rather than its positional/hook form: both must behave the same.
   */
  readonly viaConfig?: boolean;
  /**
   * A wiring mistake: only `requireScope(requirement)` on the route, with no guard before it
   * (`guard` then only picks the Fastify registration).
   */
  readonly scopeOnly?: boolean;
}

const media = (v: string | null | undefined): string | undefined => v?.split(";")[0]?.trim();
const parse = (text: string): Record<string, unknown> => {
  if (text === "") return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
};

/** The conformance routes on the `main`, `down` and `slow` guards. */
function conformanceRoutes(guards: Guards): RouteSpec[] {
  return [
    // Half the Fastify routes through route config, half through an explicit hook: both paths are conformant.
    ...ROUTES.map(([path, requirement]) => ({ path, guard: guards.main, requirement, viaConfig: requirement !== undefined && path.includes("missing") })),
    { path: "/down/plain", guard: guards.down, viaConfig: true },
    { path: "/slow/plain", guard: guards.slow, viaConfig: true },
    { path: "/main/no-guard", guard: guards.main, requirement: "read:data:customer-42", scopeOnly: true },
  ];
}

export function expressApp(routes: readonly RouteSpec[]): express.Express {
  const app = express();
  const handler = (req: express.Request, res: express.Response): void => {
    res.json({ agent: req.agentwrit?.agentId, params: req.params });
  };
  for (const { path, guard, requirement, viaConfig, scopeOnly } of routes) {
    const expressPath = path.replace("/:id?", "{/:id}");
    const options = viaConfig === true ? { guard } : guard;
    const mw = requirement === undefined ? expressGuard(options) : scopeOnly === true ? expressRequireScope(requirement) : expressGuard(requirement, options);
    app.get(expressPath, mw, handler);
  }
  return app;
}

export async function fastifyApp(routes: readonly RouteSpec[]): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify();
  const handler = async (req: FastifyRequest) => ({ agent: req.agentwrit?.agentId, params: req.params });
  // One encapsulated scope (one plugin registration) per guard.
  const byGuard = new Map<Guard, RouteSpec[]>();
  for (const r of routes) byGuard.set(r.guard, [...(byGuard.get(r.guard) ?? []), r]);
  for (const [guard, list] of byGuard) {
    await app.register(async (scope) => {
      await scope.register(fastifyPlugin, { guard });
      for (const { path, requirement, viaConfig, scopeOnly } of list) {
        if (viaConfig === true) scope.get(path, { config: { agentwrit: requirement === undefined ? {} : { scope: requirement } } }, handler);
        else if (scopeOnly === true && requirement !== undefined) scope.get(path, { onRequest: scope.requireScope(requirement) }, handler);
        else scope.get(path, { onRequest: scope.agentwritGuard(requirement) }, handler);
      }
    });
  }
  await app.ready();
  return app;
}

export function honoApp(routes: readonly RouteSpec[]): Hono {
  const app = new Hono();
  for (const { path, guard, requirement, scopeOnly } of routes) {
    const mw = requirement === undefined ? honoGuard(guard) : scopeOnly === true ? honoRequireScope(requirement) : honoGuard(requirement, guard);
    app.get(path, mw, (c) => c.json({ agent: c.var.agentwrit.agentId, params: c.req.param() }));
  }
  return app;
}

export function expressAdapterFor(routes: readonly RouteSpec[]): Adapter {
  const app = expressApp(routes);
  return {
    name: "express",
    async send(path, authorization, headers = {}) {
      let r = request(app).get(path);
      for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
      if (authorization !== undefined) r = r.set("Authorization", authorization as string);
      const res = await r;
      const h = res.headers as Record<string, string | undefined>;
      return { status: res.status, wwwAuthenticate: h["www-authenticate"], retryAfter: h["retry-after"], mediaType: media(h["content-type"]), body: parse(res.text) };
    },
    close: async () => undefined,
  };
}

export async function fastifyAdapterFor(routes: readonly RouteSpec[]): Promise<Adapter> {
  const app = await fastifyApp(routes);
  return {
    name: "fastify",
    async send(path, authorization, headers = {}) {
      const all = authorization === undefined ? { ...headers } : { ...headers, authorization: authorization as string };
      const res = await app.inject({ method: "GET", url: path, headers: all });
      const h = res.headers as Record<string, string | undefined>;
      return { status: res.statusCode, wwwAuthenticate: h["www-authenticate"], retryAfter: h["retry-after"], mediaType: media(h["content-type"]), body: parse(res.body) };
    },
    close: () => app.close(),
  };
}

export function honoAdapterFor(routes: readonly RouteSpec[]): Adapter {
  const app = honoApp(routes);
  return {
    name: "hono",
    async send(path, authorization, extra = {}) {
      const headers = new Headers(extra);
      for (const value of authorization === undefined ? [] : typeof authorization === "string" ? [authorization] : authorization) {
        headers.append("authorization", value);
      }
      const res = await app.request(path, { headers });
      return {
        status: res.status,
        wwwAuthenticate: res.headers.get("www-authenticate") ?? undefined,
        retryAfter: res.headers.get("retry-after") ?? undefined,
        mediaType: media(res.headers.get("content-type")),
        body: parse(await res.text()),
      };
    },
    close: async () => undefined,
  };
}

/** The three adapters over the same routes. */
export async function adaptersFor(routes: readonly RouteSpec[]): Promise<Adapter[]> {
  return [expressAdapterFor(routes), await fastifyAdapterFor(routes), honoAdapterFor(routes)];
}

export const expressAdapter = (guards: Guards): Adapter => expressAdapterFor(conformanceRoutes(guards));
export const fastifyAdapter = (guards: Guards): Promise<Adapter> => fastifyAdapterFor(conformanceRoutes(guards));
export const honoAdapter = (guards: Guards): Adapter => honoAdapterFor(conformanceRoutes(guards));

/** An adapter's app listening on 127.0.0.1 (ephemeral port), for raw HTTP. */
export interface Listening {
  readonly name: "express" | "fastify" | "hono";
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** An app of one of the adapters' frameworks. */
export type AnyApp = { readonly name: "express"; readonly app: express.Express } | { readonly name: "fastify"; readonly app: FastifyInstance } | { readonly name: "hono"; readonly app: Hono };

/** Starts an app on a real listener on 127.0.0.1, ephemeral port (Hono through @hono/node-server; Fastify's `listen` readies it). */
export async function serveOn(which: AnyApp): Promise<Listening> {
  const { name } = which;
  if (which.name === "fastify") {
    await which.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = which.app.server.address() as AddressInfo;
    return { name, url: `http://127.0.0.1:${port}`, port, close: () => which.app.close() };
  }
  const server =
    which.name === "express"
      ? createServer(which.app)
      : (serve({ fetch: which.app.fetch, hostname: "127.0.0.1", port: 0, createServer }) as ReturnType<typeof createServer>);
  if (name === "express") await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  else if (!server.listening) await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Starts one adapter's app, built from `routes`, on a real listener on 127.0.0.1. */
export async function listen(name: Listening["name"], routes: readonly RouteSpec[]): Promise<Listening> {
  if (name === "fastify") return serveOn({ name, app: await fastifyApp(routes) });
  return serveOn(name === "express" ? { name, app: expressApp(routes) } : { name, app: honoApp(routes) });
}
