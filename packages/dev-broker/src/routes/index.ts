/** The broker's 19 routes (B.3), with their wrappers. Nothing else is served. */
import type { Route } from "../router.js";
import { adminAuth, createLaunchToken } from "./admin.js";
import { appAuth, deregisterApp, getApp, listApps, registerApp, updateApp } from "./apps.js";
import { auditEvents } from "./audit.js";
import { delegate } from "./delegate.js";
import { release, renew } from "./lifecycle.js";
import { challenge, health, metrics, validate } from "./public.js";
import { register } from "./register.js";
import { revoke } from "./revoke.js";

const APPS = "admin:launch-tokens:*";

export const ROUTES: readonly Route[] = [
  { method: "GET", pattern: "/v1/challenge", handler: challenge },
  { method: "GET", pattern: "/v1/health", handler: health },
  { method: "GET", pattern: "/v1/metrics", handler: metrics },
  { method: "POST", pattern: "/v1/token/validate", handler: validate },
  { method: "POST", pattern: "/v1/register", handler: register },
  { method: "POST", pattern: "/v1/token/renew", handler: renew, bearer: true },
  { method: "POST", pattern: "/v1/delegate", handler: delegate, bearer: true },
  { method: "POST", pattern: "/v1/token/release", handler: release, bearer: true },
  { method: "POST", pattern: "/v1/revoke", handler: revoke, bearer: true, scope: "admin:revoke:*" },
  { method: "GET", pattern: "/v1/audit/events", handler: auditEvents, bearer: true, scope: "admin:audit:*" },
  { method: "POST", pattern: "/v1/admin/auth", handler: adminAuth, rateLimit: "admin_auth" },
  { method: "POST", pattern: "/v1/admin/launch-tokens", handler: createLaunchToken, bearer: true, scope: "admin:launch-tokens:*" },
  { method: "POST", pattern: "/v1/app/launch-tokens", handler: createLaunchToken, bearer: true, scope: "app:launch-tokens:*" },
  { method: "POST", pattern: "/v1/admin/apps", handler: registerApp, bearer: true, scope: APPS },
  { method: "GET", pattern: "/v1/admin/apps", handler: listApps, bearer: true, scope: APPS },
  { method: "GET", pattern: "/v1/admin/apps/{id}", handler: getApp, bearer: true, scope: APPS },
  { method: "PUT", pattern: "/v1/admin/apps/{id}", handler: updateApp, bearer: true, scope: APPS },
  { method: "DELETE", pattern: "/v1/admin/apps/{id}", handler: deregisterApp, bearer: true, scope: APPS },
  { method: "POST", pattern: "/v1/app/auth", handler: appAuth, rateLimit: "app_auth" },
];
