/** App management (`/v1/admin/apps…`, scope `admin:launch-tokens:*`) and `POST /v1/app/auth`. */
import { isValidScope } from "@agentwrit/guard";
import { APP_SCOPES, secretDigest, secretMatches, type BrokerCore } from "../broker.js";
import { decodeBody } from "../go-json.js";
import { writeJson, writeProblem, type RequestContext } from "../http-context.js";
import type { AppRecord } from "../state.js";

const APP_NAME = /^[a-z][a-z0-9](?:-?[a-z0-9]+)*$/;
const MIN_APP_TTL = 60;
const MAX_APP_TTL = 86400;

function appJson(a: AppRecord): Record<string, unknown> {
  return {
    app_id: a.appId,
    name: a.name,
    client_id: a.clientId,
    scopes: a.scopes,
    token_ttl: a.tokenTtl,
    status: a.status,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

function ttlError(ctx: RequestContext, ttl: number): boolean {
  if (ttl >= MIN_APP_TTL && ttl <= MAX_APP_TTL) return false;
  writeProblem(ctx, 400, "invalid_ttl", `invalid token TTL: must be between ${MIN_APP_TTL} and ${MAX_APP_TTL} seconds, got ${ttl}`);
  return true;
}

function scopeFormatError(ctx: RequestContext, scopes: readonly string[]): boolean {
  if (scopes.every(isValidScope)) return false;
  writeProblem(ctx, 400, "invalid_request", "invalid scope format: use action:resource:identifier");
  return true;
}

/** The client_id prefix: the name's first three letters or digits (the broker's exact rule is not documented). */
function clientIdPrefix(name: string): string {
  return name.replace(/-/g, "").slice(0, 3);
}

/** `POST /v1/admin/apps` → 201, with the broker's `name:""` / `status:""` quirk. */
export function registerApp(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeBody(ctx.body, { name: "string", scopes: "strings", token_ttl: "int" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const name = req.name ?? "";
  const scopes = req.scopes ?? [];
  if (name === "") {
    writeProblem(ctx, 400, "invalid_request", "name is required");
    return;
  }
  if (scopes.length === 0) {
    writeProblem(ctx, 400, "invalid_request", "scopes must not be empty");
    return;
  }
  if (name.length > 64 || !APP_NAME.test(name)) {
    writeProblem(ctx, 400, "invalid_request", "invalid app name: must be lowercase letters, digits, and hyphens");
    return;
  }
  if (scopeFormatError(ctx, scopes)) return;
  if (req.token_ttl !== undefined && ttlError(ctx, req.token_ttl)) return;
  const tokenTtl = req.token_ttl ?? b.options.appTokenTtl;
  const secret = b.env.randomHex("client_secret", 32);
  const now = b.env.rfc3339();
  const app: AppRecord = {
    appId: `app-${name}-${b.env.randomHex("app_id", 3)}`,
    name,
    clientId: `${clientIdPrefix(name)}-${b.env.randomHex("client_id", 6)}`,
    secretDigest: secretDigest(secret),
    scopes: [...scopes],
    tokenTtl,
    status: "active",
    createdAt: now,
    updatedAt: now,
  };
  if (b.options.busy("app_register") || !b.apps.add(app)) {
    writeProblem(ctx, 500, "internal_error", "failed to register app");
    return;
  }
  b.record({ event_type: "app_registered", detail: `app ${name} (${app.appId}) registered with scopes [${scopes.join(" ")}]`, outcome: "success" });
  writeJson(ctx, 201, {
    app_id: app.appId,
    name: "",
    client_id: app.clientId,
    client_secret: secret,
    scopes: app.scopes,
    token_ttl: tokenTtl,
    status: "",
  });
}

/** `GET /v1/admin/apps`: newest first. */
export function listApps(b: BrokerCore, ctx: RequestContext): void {
  const apps = b.apps.list();
  writeJson(ctx, 200, { apps: apps.map(appJson), total: apps.length });
}

function findApp(b: BrokerCore, ctx: RequestContext): AppRecord | undefined {
  const app = b.apps.get(ctx.params.id ?? "");
  if (app === undefined) writeProblem(ctx, 404, "not_found", "app not found");
  return app;
}

/** `GET /v1/admin/apps/{id}`. */
export function getApp(b: BrokerCore, ctx: RequestContext): void {
  const app = findApp(b, ctx);
  if (app !== undefined) writeJson(ctx, 200, appJson(app));
}

/**
 * `PUT /v1/admin/apps/{id}`: the input is checked (scope format, then `token_ttl`) before the app
 * is looked up, so an out-of-range TTL on an unknown app is 400 `invalid_ttl`, not 404, and a
 * refused update changes nothing.
 */
export function updateApp(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeBody(ctx.body, { scopes: "strings", token_ttl: "int" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const scopes = req.scopes ?? [];
  const ttl = req.token_ttl;
  if (scopes.length === 0 && ttl === undefined) {
    writeProblem(ctx, 400, "invalid_request", "at least one of scopes or token_ttl must be provided");
    return;
  }
  if (scopes.length > 0 && scopeFormatError(ctx, scopes)) return;
  if (ttl !== undefined && ttlError(ctx, ttl)) return;
  const app = findApp(b, ctx);
  if (app === undefined) return;
  if (scopes.length > 0) app.scopes = [...scopes];
  if (ttl !== undefined) app.tokenTtl = ttl;
  app.updatedAt = b.env.rfc3339();
  b.record({ event_type: "app_updated", detail: `app ${app.name} (${app.appId}) updated`, outcome: "success" });
  writeJson(ctx, 200, appJson(app));
}

/** `DELETE /v1/admin/apps/{id}`: soft delete; the response carries the broker's empty fields. */
export function deregisterApp(b: BrokerCore, ctx: RequestContext): void {
  const app = findApp(b, ctx);
  if (app === undefined) return;
  const now = b.env.rfc3339();
  app.status = "inactive";
  app.updatedAt = now;
  b.record({ event_type: "app_deregistered", detail: `app ${app.name} (${app.appId}) deregistered`, outcome: "success" });
  writeJson(ctx, 200, {
    app_id: app.appId,
    name: "",
    client_id: "",
    scopes: null,
    token_ttl: 0,
    status: "inactive",
    deregistered_at: now,
  });
}

// Compared against when the client_id is unknown, so timing does not reveal which ids exist.
const DUMMY_DIGEST = secretDigest("agentwrit-dev-broker-unknown-client");

/** `POST /v1/app/auth`: client credentials → app token (same 401 text for every failure). */
export function appAuth(b: BrokerCore, ctx: RequestContext): void {
  let req;
  try {
    req = decodeBody(ctx.body, { client_id: "string", client_secret: "string" });
  } catch {
    writeProblem(ctx, 400, "invalid_request", "malformed JSON body");
    return;
  }
  const clientId = req.client_id ?? "";
  const clientSecret = req.client_secret ?? "";
  if (clientId === "" || clientSecret === "") {
    writeProblem(ctx, 400, "invalid_request", "client_id and client_secret are required");
    return;
  }
  if (b.options.busy("app_auth")) {
    writeProblem(ctx, 500, "internal_error", "authentication error");
    return;
  }
  const app = b.apps.byClientId(clientId);
  const ok = secretMatches(clientSecret, app?.secretDigest ?? DUMMY_DIGEST);
  if (app === undefined || !ok || app.status !== "active") {
    b.record({ event_type: "app_auth_failed", detail: `app authentication failed for client_id ${clientId}`, outcome: "denied" });
    writeProblem(ctx, 401, "unauthorized", "Authentication failed");
    return;
  }
  const issued = b.issue({ sub: "app:" + app.appId, scope: APP_SCOPES, ttl: app.tokenTtl });
  b.record({ event_type: "app_authenticated", detail: `app ${app.name} (${app.appId}) authenticated`, outcome: "success" });
  writeJson(ctx, 200, { access_token: issued.token, expires_in: issued.expiresIn, token_type: "Bearer", scopes: APP_SCOPES });
}
