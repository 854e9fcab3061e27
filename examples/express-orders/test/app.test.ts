import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import type { Express } from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";

let broker: DevBroker;
let app: Express;
let token: string;

beforeAll(async () => {
  broker = await startDevBroker();
  app = createApp({ brokerUrl: broker.url, publicKey: broker.publicKeyPem });
  const agent = await broker.createAgent({
    orchId: "test",
    taskId: "express",
    scope: ["read:data:customer-42", "write:data:order-7", "read:reports:daily"],
  });
  token = `Bearer ${agent.accessToken}`;
});
afterAll(() => broker.close());

describe("express-orders", () => {
  it("allows each route with the matching scope", async () => {
    expect((await request(app).get("/customers/42").set("Authorization", token).expect(200)).body).toEqual({ id: "42", name: "Ada Example" });
    const confirmed = await request(app).post("/orders/7/confirm").set("Authorization", token).expect(200);
    expect(confirmed.body).toMatchObject({ id: "7", status: "confirmed", confirmedBy: expect.stringMatching(/^spiffe:\/\//) });
    expect((await request(app).get("/admin/report").set("Authorization", token).expect(200)).body).toEqual({ customers: 2, orders: 2, confirmed: 1 });
  });

  it("refuses another customer or order with 403 naming the missing scope", async () => {
    const res = await request(app).get("/customers/43").set("Authorization", token).expect(403);
    expect(res.headers["www-authenticate"]).toContain('scope="read:data:customer-43"');
    expect(res.body.code).toBe("insufficient_scope");
    await request(app).post("/orders/8/confirm").set("Authorization", token).expect(403);
  });

  it("refuses a wildcard smuggled through the path with 400", async () => {
    const res = await request(app).get("/customers/%2A").set("Authorization", token).expect(400);
    expect(res.body.code).toBe("invalid_parameter");
  });

  it("refuses a missing, then a released, token with 401", async () => {
    await request(app).get("/customers/42").expect(401);
    const agent = await broker.createAgent({ orchId: "test", taskId: "released", scope: ["read:data:customer-42"] });
    await request(app).get("/customers/42").set("Authorization", `Bearer ${agent.accessToken}`).expect(200);
    await broker.release(agent.accessToken);
    const res = await request(app).get("/customers/42").set("Authorization", `Bearer ${agent.accessToken}`).expect(401);
    expect(res.body.code).toBe("token_inactive");
  });
});
