import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";

let broker: DevBroker;
let app: ReturnType<typeof createApp>;
let authorization: string;

beforeAll(async () => {
  broker = await startDevBroker();
  app = createApp({ brokerUrl: broker.url, publicKey: broker.publicKeyPem });
  const agent = await broker.createAgent({
    orchId: "test",
    taskId: "hono",
    scope: ["read:data:customer-42", "write:data:order-7", "read:reports:daily"],
  });
  authorization = `Bearer ${agent.accessToken}`;
});
afterAll(() => broker.close());

describe("hono-orders", () => {
  it("allows each route with the matching scope", async () => {
    const customer = await app.request("/customers/42", { headers: { authorization } });
    expect(customer.status).toBe(200);
    expect(await customer.json()).toEqual({ id: "42", name: "Ada Example" });
    const confirmed = await app.request("/orders/7/confirm", { method: "POST", headers: { authorization } });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.json()).toMatchObject({ id: "7", status: "confirmed", confirmedBy: expect.stringMatching(/^spiffe:\/\//) });
    const report = await app.request("/admin/report", { headers: { authorization } });
    expect(await report.json()).toEqual({ customers: 2, orders: 2, confirmed: 1 });
  });

  it("refuses another customer or order with 403 naming the missing scope", async () => {
    const res = await app.request("/customers/43", { headers: { authorization } });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toContain('scope="read:data:customer-43"');
    expect(((await res.json()) as { code: string }).code).toBe("insufficient_scope");
    expect((await app.request("/orders/8/confirm", { method: "POST", headers: { authorization } })).status).toBe(403);
  });

  it("refuses a wildcard smuggled through the path with 400", async () => {
    const res = await app.request("/customers/%2A", { headers: { authorization } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_parameter");
  });

  it("refuses a missing, then a released, token with 401", async () => {
    expect((await app.request("/customers/42")).status).toBe(401);
    const agent = await broker.createAgent({ orchId: "test", taskId: "released", scope: ["read:data:customer-42"] });
    const headers = { authorization: `Bearer ${agent.accessToken}` };
    expect((await app.request("/customers/42", { headers })).status).toBe(200);
    await broker.release(agent.accessToken);
    const res = await app.request("/customers/42", { headers });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("token_inactive");
  });
});
