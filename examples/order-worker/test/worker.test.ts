import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { createApp } from "@agentwrit/example-express-orders";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatExchange, formatStep, runOrderWorker, tokenFingerprint } from "../src/worker.js";

let broker: DevBroker;
let api: Server;
let apiUrl: string;

beforeAll(async () => {
  broker = await startDevBroker();
  api = await new Promise<Server>((resolve) => {
    const s = createApp({ brokerUrl: broker.url, publicKey: broker.publicKeyPem }).listen(0, "127.0.0.1", () => resolve(s));
  });
  apiUrl = `http://127.0.0.1:${String((api.address() as AddressInfo).port)}`;
});
afterAll(async () => {
  api.closeAllConnections();
  await new Promise<void>((resolve) => api.close(() => resolve()));
  await broker.close();
});

const base = () => ({ apiUrl, customerId: "42", orderId: "7" });

describe("order worker", () => {
  it("tells the whole story: create, validate, its customer and order, two refusals, release, dead token", async () => {
    const app = await broker.registerApp({ name: "orders", scopes: ["read:data:*", "write:data:*"] });
    const lines: string[] = [];
    const steps = await runOrderWorker({ ...base(), brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret, log: (l) => lines.push(l) });
    expect(steps.map((s) => [s.name, s.actual, s.ok])).toEqual([
      ["create the agent", "agent", true],
      ["validate and print the claims", "valid", true],
      ["read its customer", "200", true],
      ["write its order", "200", true],
      ["blocked on another customer", "403", true],
      ["blocked on another order", "403", true],
      ["release", "released", true],
      ["the token is dead", "dead", true],
      ["the API refuses it", "401", true],
    ]);
    expect(steps[0]!.exchanges.map(formatExchange)).toEqual([
      "POST broker /v1/app/auth → 200",
      "POST broker /v1/app/launch-tokens → 201",
      "GET  broker /v1/challenge → 200",
      "POST broker /v1/register → 200",
    ]);
    expect(steps[1]!.detail).toMatch(/^sub spiffe:\/\/agentwrit\.local\/agent\/orders\/confirm-order-7\/[0-9a-f]{16}; scope read:data:customer-42 write:data:order-7; task confirm-order-7; orch orders; expires in \d+ s$/);
    expect(steps[4]!.detail).toBe("insufficient_scope, missing read:data:customer-43");
    expect(steps[6]!.exchanges.map(formatExchange)).toEqual(["POST broker /v1/token/release → 204"]);
    expect(lines.join("\n")).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });

  it("stops at the first step when the agent cannot be created (wrong client secret)", async () => {
    const app = await broker.registerApp({ name: "wrong-secret", scopes: ["read:data:*", "write:data:*"] });
    const lines: string[] = [];
    const steps = await runOrderWorker({ ...base(), brokerUrl: broker.url, clientId: app.clientId, clientSecret: "0".repeat(64), log: (l) => lines.push(l) });
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ name: "create the agent", expected: "agent", actual: "401", ok: false, detail: "unauthorized: Authentication failed" });
    expect(steps[0]!.exchanges.map(formatExchange)).toEqual(["POST broker /v1/app/auth → 401"]);
    expect(lines[0]).toBe("✗      401 (expected agent)  create the agent: unauthorized: Authentication failed");
  });

  it("is refused a launch token beyond the app's scope ceiling", async () => {
    const app = await broker.registerApp({ name: "readers", scopes: ["read:data:*"] });
    const steps = await runOrderWorker({ ...base(), brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
    expect(steps).toHaveLength(1);
    expect(steps[0]!.exchanges.map((x) => [x.path, x.status])).toEqual([
      ["/v1/app/auth", 200],
      ["/v1/app/launch-tokens", 403],
    ]);
    expect(steps[0]!.detail).toContain("forbidden");
  });

  it("prints a jti prefix, never the token", async () => {
    const agent = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    const fp = tokenFingerprint(agent.accessToken);
    expect(fp).toMatch(/^jti [0-9a-f]{8}…$/);
    expect(tokenFingerprint("not-a-token")).toBe("jti ?");
    const line = formatStep({ name: "n", expected: "200", actual: "200", ok: true, detail: fp, exchanges: [] });
    expect(line).not.toContain(agent.accessToken.split(".")[1]!);
  });
});
