import express from "express";
import { Hono } from "hono";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { protectedResourceMetadataRouter } from "../src/express.js";
import { protectedResourceMetadataHandler } from "../src/hono.js";
import { protectedResourceMetadata, protectedResourceMetadataPaths, protectedResourceMetadataUrl } from "../src/index.js";
import { METADATA_URL, RESOURCE } from "./support.js";

const OPTIONS = { resource: RESOURCE, resourceName: "Records", scopesSupported: ["read:records:patient-42"] };

describe("protected-resource metadata (RFC 9728)", () => {
  it("builds the document and its URLs", () => {
    expect(protectedResourceMetadata({ ...OPTIONS, authorizationServers: ["https://as.example/"], resourceDocumentation: "https://docs.example/mcp" })).toEqual({
      resource: RESOURCE,
      bearer_methods_supported: ["header"],
      authorization_servers: ["https://as.example"],
      scopes_supported: ["read:records:patient-42"],
      resource_name: "Records",
      resource_documentation: "https://docs.example/mcp",
    });
    expect(protectedResourceMetadataUrl(RESOURCE)).toBe(METADATA_URL);
    expect(protectedResourceMetadataUrl("https://mcp.example")).toBe("https://mcp.example/.well-known/oauth-protected-resource");
    expect(protectedResourceMetadataPaths(RESOURCE)).toEqual(["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]);
    expect(protectedResourceMetadataPaths("https://mcp.example/")).toEqual(["/.well-known/oauth-protected-resource"]);
    expect(() => protectedResourceMetadata({ resource: RESOURCE, scopesSupported: ["offline_access"] })).toThrow(TypeError);
    expect(() => protectedResourceMetadata({ resource: "https://mcp.example/mcp#frag" })).toThrow(TypeError);
    expect(() => protectedResourceMetadata({ resource: "not a url" })).toThrow(TypeError);
  });

  it("is served by Express at both well-known paths", async () => {
    const app = express();
    app.use(protectedResourceMetadataRouter(OPTIONS));
    app.get("/other", (_req, res) => {
      res.send("other");
    });
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await request(app).get(path);
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      expect(res.headers["access-control-allow-origin"]).toBe("*");
      expect(res.body).toMatchObject({ resource: RESOURCE, resource_name: "Records" });
    }
    expect((await request(app).options("/.well-known/oauth-protected-resource/mcp")).status).toBe(204);
    const post = await request(app).post("/.well-known/oauth-protected-resource/mcp");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD, OPTIONS");
    expect((await request(app).get("/.well-known/oauth-protected-resource/other")).status).toBe(404);
    expect((await request(app).get("/other")).text).toBe("other");
  });

  it("is served by Hono at both well-known paths", async () => {
    const app = new Hono();
    app.use(protectedResourceMetadataHandler(OPTIONS));
    app.get("/other", (c) => c.text("other"));
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ resource: RESOURCE });
    }
    expect((await app.request("/.well-known/oauth-protected-resource", { method: "OPTIONS" })).status).toBe(204);
    expect((await app.request("/.well-known/oauth-protected-resource", { method: "DELETE" })).status).toBe(405);
    expect((await app.request("/.well-known/oauth-protected-resource/x")).status).toBe(404);
    expect(await (await app.request("/other")).text()).toBe("other");
  });
});
