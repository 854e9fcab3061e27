/**
 * Release by construction: `await using agent = await app.createAgent(…)` and
 * `app.withAgent(options, fn)` release the token however the block ends.
 */
import { AgentWritApp, validate, type Agent } from "@agentwrit/client";
import { startDevBroker, type DevBroker } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payload, recordingFetch } from "./support.js";

let broker: DevBroker;
let client: AgentWritApp;
const rec = recordingFetch();

beforeAll(async () => {
  broker = await startDevBroker();
  const registered = await broker.registerApp({ name: "disposer", scopes: ["read:data:*"] });
  client = new AgentWritApp({ brokerUrl: broker.url, clientId: registered.clientId, clientSecret: registered.clientSecret, fetch: rec.fetch });
});
afterAll(() => broker.close());

const options = { orchId: "o", taskId: "scoped", scope: ["read:data:x"] };
const dead = async (token: string) => !(await validate(broker.url, token)).valid;

describe("await using", () => {
  it("releases at the end of the block", async () => {
    let token: string;
    {
      await using agent = await client.createAgent(options);
      token = agent.accessToken;
      expect(await dead(token)).toBe(false);
    }
    expect(await dead(token)).toBe(true);
  });

  it("releases when the block throws, and the block's error is the one thrown", async () => {
    let token = "";
    const run = async () => {
      await using agent = await client.createAgent(options);
      token = agent.accessToken;
      throw new Error("task failed");
    };
    await expect(run()).rejects.toThrow("task failed");
    expect(await dead(token)).toBe(true);
  });

  it("an agent released inside the block is not released twice; an expired or revoked one counts as released", async () => {
    rec.sent.length = 0;
    {
      await using agent = await client.createAgent(options);
      await agent.release();
    }
    expect(rec.paths().filter((p) => p === "POST /v1/token/release")).toHaveLength(1);
    let revoked: Agent | undefined;
    {
      await using agent = await client.createAgent(options);
      revoked = agent;
      await broker.revoke("token", String(payload(agent.accessToken).jti));
    }
    expect(revoked.released).toBe(true);
  });

  it("uses Symbol.asyncDispose", async () => {
    const agent = await client.createAgent(options);
    expect(typeof agent[Symbol.asyncDispose]).toBe("function");
    await agent[Symbol.asyncDispose]();
    expect(agent.released).toBe(true);
  });
});

describe("app.withAgent", () => {
  it("returns fn's result and releases the agent", async () => {
    let token = "";
    const result = await client.withAgent(options, async (agent) => {
      token = agent.accessToken;
      return agent.scope;
    });
    expect(result).toEqual(["read:data:x"]);
    expect(await dead(token)).toBe(true);
  });

  it("releases in finally when fn throws, and rethrows fn's error", async () => {
    let token = "";
    await expect(
      client.withAgent(options, (agent) => {
        token = agent.accessToken;
        throw new RangeError("boom");
      }),
    ).rejects.toThrow(RangeError);
    expect(await dead(token)).toBe(true);
  });
});
