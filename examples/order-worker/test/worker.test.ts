import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatStep, runOrderWorker, tokenFingerprint } from "../src/worker.js";

let broker: DevBroker;

beforeAll(async () => {
  broker = await startDevBroker();
});
afterAll(() => broker.close());

const base = { apiUrl: "http://127.0.0.1:9", customerId: "42", orderId: "7" };

describe("order worker", () => {
  it("stops at the first broker step that fails (wrong client secret)", async () => {
    const app = await broker.registerApp({ name: "wrong-secret", scopes: ["read:data:*", "write:data:*"] });
    const lines: string[] = [];
    const steps = await runOrderWorker({ ...base, brokerUrl: broker.url, clientId: app.clientId, clientSecret: "0".repeat(64), log: (l) => lines.push(l) });
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ path: "/v1/app/auth", expected: 200, actual: 401, ok: false });
    expect(lines[0]).toMatch(/^✗ 401 \(expected 200\)/);
  });

  it("is refused a launch token beyond the app's scope ceiling", async () => {
    const app = await broker.registerApp({ name: "readers", scopes: ["read:data:*"] });
    const steps = await runOrderWorker({ ...base, brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
    expect(steps.map((s) => [s.path, s.actual, s.ok])).toEqual([
      ["/v1/app/auth", 200, true],
      ["/v1/app/launch-tokens", 403, false],
    ]);
    expect(steps[1]!.detail).toContain("forbidden");
  });

  it("prints a jti prefix, never the token", async () => {
    const agent = await broker.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] });
    const fp = tokenFingerprint(agent.accessToken);
    expect(fp).toMatch(/^jti [0-9a-f]{8}…$/);
    expect(tokenFingerprint("not-a-token")).toBe("jti ?");
    const line = formatStep({ name: "n", method: "GET", target: "api", path: "/x", expected: 200, actual: 200, ok: true, detail: fp });
    expect(line).not.toContain(agent.accessToken.split(".")[1]!);
  });
});
