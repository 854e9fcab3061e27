import { createGuard } from "@agentwrit/guard";
import type { DevBroker } from "@agentwrit/dev-broker";
import { InvalidTokenError, ServerError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import express from "express";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentwritTokenVerifier, getAgentIdentity } from "../src/index.js";
import { broker, challenge, METADATA_URL, RESOURCE } from "./support.js";

let b: DevBroker;
let token: string;

beforeAll(async () => {
  b = await broker();
  token = (await b.createAgent({ orchId: "o", taskId: "v", scope: ["read:records:patient-42"] })).accessToken;
});
afterAll(async () => {
  await b.close();
});

function app(verifier: ReturnType<typeof agentwritTokenVerifier>, expectedResource?: URL): express.Express {
  const a = express();
  a.get(
    "/mcp",
    requireBearerAuth({ verifier, resourceMetadataUrl: METADATA_URL, ...(expectedResource === undefined ? {} : { expectedResource }) }),
    (req, res) => {
      const auth = req.auth!;
      res.json({ clientId: auth.clientId, scopes: auth.scopes, expiresAt: auth.expiresAt, resource: auth.resource?.href, depth: getAgentIdentity(auth)?.delegationDepth });
    },
  );
  return a;
}

describe("agentwritTokenVerifier with the SDK's requireBearerAuth", () => {
  it("produces AuthInfo with clientId, scopes, expiresAt, resource and the identity", async () => {
    const verifier = agentwritTokenVerifier({ brokerUrl: b.url, publicKey: b.publicKeyPem, resource: RESOURCE });
    const res = await request(app(verifier, new URL(RESOURCE))).get("/mcp").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ scopes: ["read:records:patient-42"], resource: RESOURCE, depth: 0 });
    expect(res.body.clientId).toMatch(/^spiffe:\/\//);
    expect(Number.isInteger(res.body.expiresAt)).toBe(true);
  });

  it("maps refusals to InvalidTokenError: 401 with resource_metadata", async () => {
    const verifier = agentwritTokenVerifier({ publicKey: b.publicKeyPem, resource: RESOURCE });
    await expect(verifier.verifyAccessToken("x.y.z")).rejects.toBeInstanceOf(InvalidTokenError);
    const res = await request(app(verifier)).get("/mcp").set("Authorization", "Bearer abc.def.ghi");
    expect(res.status).toBe(401);
    expect(challenge(res.headers["www-authenticate"])).toMatchObject({ error: "invalid_token", resource_metadata: METADATA_URL });
    const missing = await request(app(verifier)).get("/mcp");
    expect(missing.status).toBe(401);
  });

  it("refuses a token for another audience", async () => {
    const verifier = agentwritTokenVerifier({ publicKey: b.publicKeyPem, resource: "https://other.example/mcp" });
    const res = await request(app(verifier)).get("/mcp").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(401);
  });

  it("reports a broker outage as ServerError (500), never 401", async () => {
    const verifier = agentwritTokenVerifier(createGuard({ brokerUrl: "http://127.0.0.1:1", brokerTimeoutMs: 500 }));
    await expect(verifier.verifyAccessToken(token)).rejects.toBeInstanceOf(ServerError);
    const res = await request(app(verifier)).get("/mcp").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(500);
    expect(res.headers["www-authenticate"]).toBeUndefined();
  });

  it("reports released tokens as 401 in broker mode", async () => {
    const t = (await b.createAgent({ orchId: "o", taskId: "rel", scope: ["read:records:patient-42"] })).accessToken;
    const verifier = agentwritTokenVerifier({ brokerUrl: b.url, resource: RESOURCE });
    await expect(verifier.verifyAccessToken(t)).resolves.toMatchObject({ scopes: ["read:records:patient-42"] });
    await b.release(t);
    await expect(verifier.verifyAccessToken(t)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
