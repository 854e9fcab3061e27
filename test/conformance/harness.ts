/**
 * The same routes on each adapter, and one way to send a request through each framework's own
 * test path (supertest on a real Express app, `app.inject` for Fastify, `app.request` for Hono).
 */
import { agentwritGuard as expressGuard } from "@agentwrit/guard-express";
import { agentwrit as fastifyPlugin } from "@agentwrit/guard-fastify";
import { agentwritGuard as honoGuard, type AgentWritEnv } from "@agentwrit/guard-hono";
import { anyOf, type Guard, type Requirement } from "@agentwrit/guard";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { Hono } from "hono";
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
  ["/main/unbound", "write:data:order-{id}"],
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
  send(path: string, authorization: Authorization): Promise<Answer>;
  close(): Promise<void>;
}

const media = (v: string | null | undefined): string | undefined => v?.split(";")[0]?.trim();
const parse = (text: string): Record<string, unknown> => (text === "" ? {} : (JSON.parse(text) as Record<string, unknown>));

export function expressAdapter(guards: Guards): Adapter {
  const app = express();
  const handler = (req: express.Request, res: express.Response): void => {
    res.json({ agent: req.agentwrit?.agentId });
  };
  for (const [path, req] of ROUTES) {
    const expressPath = path.replace("/:id?", "{/:id}");
    app.get(expressPath, req === undefined ? expressGuard(guards.main) : expressGuard(req, guards.main), handler);
  }
  app.get("/down/plain", expressGuard({ guard: guards.down }), handler);
  app.get("/slow/plain", expressGuard({ guard: guards.slow }), handler);
  return {
    name: "express",
    async send(path, authorization) {
      let r = request(app).get(path);
      if (authorization !== undefined) r = r.set("Authorization", authorization as string);
      const res = await r;
      const h = res.headers as Record<string, string | undefined>;
      return { status: res.status, wwwAuthenticate: h["www-authenticate"], retryAfter: h["retry-after"], mediaType: media(h["content-type"]), body: parse(res.text) };
    },
    close: async () => undefined,
  };
}

export async function fastifyAdapter(guards: Guards): Promise<Adapter> {
  const app: FastifyInstance = Fastify();
  const handler = async (req: { agentwrit: { agentId: string } | null }) => ({ agent: req.agentwrit?.agentId });
  await app.register(async (scope) => {
    await scope.register(fastifyPlugin, { guard: guards.main });
    for (const [path, req] of ROUTES) {
      // Half the routes through route config, half through an explicit hook: both paths are conformant.
      if (req !== undefined && path.includes("missing")) scope.get(path, { config: { agentwrit: { scope: req } } }, handler);
      else scope.get(path, { onRequest: scope.agentwritGuard(req) }, handler);
    }
  });
  for (const name of ["down", "slow"] as const) {
    await app.register(async (scope) => {
      await scope.register(fastifyPlugin, guards[name]);
      scope.get(`/${name}/plain`, { config: { agentwrit: {} } }, handler);
    });
  }
  await app.ready();
  return {
    name: "fastify",
    async send(path, authorization) {
      const headers = authorization === undefined ? {} : { authorization: authorization as string };
      const res = await app.inject({ method: "GET", url: path, headers });
      const h = res.headers as Record<string, string | undefined>;
      return { status: res.statusCode, wwwAuthenticate: h["www-authenticate"], retryAfter: h["retry-after"], mediaType: media(h["content-type"]), body: parse(res.body) };
    },
    close: () => app.close(),
  };
}

export function honoAdapter(guards: Guards): Adapter {
  const app = new Hono<AgentWritEnv>();
  for (const [path, req] of ROUTES) {
    app.get(path, req === undefined ? honoGuard(guards.main) : honoGuard(req, guards.main), (c) => c.json({ agent: c.var.agentwrit.agentId }));
  }
  app.get("/down/plain", honoGuard(guards.down), (c) => c.json({ agent: c.var.agentwrit.agentId }));
  app.get("/slow/plain", honoGuard(guards.slow), (c) => c.json({ agent: c.var.agentwrit.agentId }));
  return {
    name: "hono",
    async send(path, authorization) {
      const headers = new Headers();
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
