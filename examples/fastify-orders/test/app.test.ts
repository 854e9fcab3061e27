import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";

let broker: DevBroker;
let app: FastifyInstance;
let authorization: string;

beforeAll(async () => {
  broker = await startDevBroker();
  app = await createApp({ brokerUrl: broker.url, publicKey: broker.publicKeyPem });
  const agent = await broker.createAgent({
    orchId: "test",
    taskId: "fastify",
    scope: ["read:data:customer-42", "write:data:order-7", "read:reports:daily"],
  });
  authorization = `Bearer ${agent.accessToken}`;
});
afterAll(async () => {
  await app.close();
  await broker.close();
});

describe("fastify-orders", () => {
  it("allows each route with the matching scope", async () => {
    const customer = await app.inject({ url: "/customers/42", headers: { authorization } });
    expect(customer.statusCode).toBe(200);
    expect(customer.json()).toEqual({ id: "42", name: "Ada Example" });
    const confirmed = await app.inject({ method: "POST", url: "/orders/7/confirm", headers: { authorization } });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.json()).toMatchObject({ id: "7", status: "confirmed", confirmedBy: expect.stringMatching(/^spiffe:\/\//) });
    const report = await app.inject({ url: "/admin/report", headers: { authorization } });
    expect(report.json()).toEqual({ customers: 2, orders: 2, confirmed: 1 });
  });

  it("refuses another customer or order with 403 naming the missing scope", async () => {
    const res = await app.inject({ url: "/customers/43", headers: { authorization } });
    expect(res.statusCode).toBe(403);
    expect(res.headers["www-authenticate"]).toContain('scope="read:data:customer-43"');
    expect(res.json().code).toBe("insufficient_scope");
    expect((await app.inject({ method: "POST", url: "/orders/8/confirm", headers: { authorization } })).statusCode).toBe(403);
  });

  it("refuses a wildcard smuggled through the path with 400", async () => {
    const res = await app.inject({ url: "/customers/%2A", headers: { authorization } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("invalid_parameter");
  });

  it("refuses a missing, then a released, token with 401", async () => {
    expect((await app.inject({ url: "/customers/42" })).statusCode).toBe(401);
    const agent = await broker.createAgent({ orchId: "test", taskId: "released", scope: ["read:data:customer-42"] });
    const headers = { authorization: `Bearer ${agent.accessToken}` };
    expect((await app.inject({ url: "/customers/42", headers })).statusCode).toBe(200);
    await broker.release(agent.accessToken);
    const res = await app.inject({ url: "/customers/42", headers });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe("token_inactive");
  });
});
