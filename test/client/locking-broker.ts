/**
 * A loopback stand-in in front of the real dev broker that fails the app routes the way the real
 * broker's SQLite store does under concurrent writes (protocol Appendix 3), which the in-memory
 * dev broker never does:
 *
 * - an app request (`POST /v1/app/auth`, `POST /v1/app/launch-tokens`) that arrives while another
 *   one is in flight fails: 500 "authentication error" on app auth, 403 `forbidden` "app not
 *   found" on launch tokens (the app lookup fails, not the authorization);
 * - on top of that, chosen attempts fail even alone (other writers hold the lock: audit writes);
 * - everything else is forwarded to the dev broker unchanged.
 *
 * Injected answers are byte-for-byte the broker's problem+json.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listen, readBody, type Loopback } from "./support.js";

export interface LockingStats {
  appAuthAttempts: number;
  appAuthInjected: number;
  appAuthOk: number;
  launchAttempts: number;
  launchInjected: number;
  launchOk: number;
  /** The most app-route requests in flight at once, as seen by the stand-in. */
  maxConcurrentLaunch: number;
  /** Every launch-token attempt in order: its `allowed_scope`, the status answered, whether it was injected. */
  launchLog: { scope: string[]; status: number; injected: boolean }[];
}

export interface LockingOptions {
  /** Whether app-auth attempt n (1-based) fails even when alone. */
  readonly failAppAuth?: (n: number) => boolean;
  /** Whether launch-token attempt n (1-based) fails even when alone. */
  readonly failLaunch?: (n: number) => boolean;
  /** How long the stand-in holds each app request before forwarding it (widens the lock window). */
  readonly holdMs?: number;
}

export interface LockingBroker extends Loopback {
  readonly stats: LockingStats;
}

function problem(res: ServerResponse, status: number, title: string, code: string, detail: string, instance: string): void {
  const requestId = randomBytes(8).toString("hex");
  const body = JSON.stringify({ type: `urn:agentwrit:error:${code}`, title, status, detail, instance, error_code: code, request_id: requestId }) + "\n";
  res.writeHead(status, { "content-type": "application/problem+json", "x-request-id": requestId, "x-content-type-options": "nosniff", "cache-control": "no-store" });
  res.end(body);
}

async function forward(target: string, req: IncomingMessage, body: string, res: ServerResponse): Promise<number> {
  const headers: Record<string, string> = {};
  for (const name of ["authorization", "content-type", "user-agent", "x-request-id"]) {
    const v = req.headers[name];
    if (typeof v === "string") headers[name] = v;
  }
  const up = await fetch(target + (req.url ?? "/"), { method: req.method ?? "GET", headers, ...(body === "" ? {} : { body }), redirect: "manual" });
  const text = await up.text();
  const out: Record<string, string> = {};
  up.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection" && k !== "keep-alive") out[k] = v;
  });
  res.writeHead(up.status, out);
  res.end(text);
  return up.status;
}

export async function lockingBroker(target: string, options: LockingOptions = {}): Promise<LockingBroker> {
  const stats: LockingStats = {
    appAuthAttempts: 0,
    appAuthInjected: 0,
    appAuthOk: 0,
    launchAttempts: 0,
    launchInjected: 0,
    launchOk: 0,
    maxConcurrentLaunch: 0,
    launchLog: [],
  };
  let inFlight = 0;
  let launchInFlight = 0;
  const hold = options.holdMs ?? 5;
  const server = await listen(async (req, res) => {
    const body = await readBody(req);
    const path = (req.url ?? "").split("?")[0];
    const isAuth = req.method === "POST" && path === "/v1/app/auth";
    const isLaunch = req.method === "POST" && path === "/v1/app/launch-tokens";
    if (!isAuth && !isLaunch) {
      await forward(target, req, body, res);
      return;
    }
    const busy = inFlight > 0;
    inFlight++;
    if (isLaunch) {
      launchInFlight++;
      stats.maxConcurrentLaunch = Math.max(stats.maxConcurrentLaunch, launchInFlight);
    }
    try {
      await new Promise((r) => setTimeout(r, hold));
      if (isAuth) {
        const n = ++stats.appAuthAttempts;
        if (busy || options.failAppAuth?.(n) === true) {
          stats.appAuthInjected++;
          problem(res, 500, "Internal Server Error", "internal_error", "authentication error", path);
        } else if ((await forward(target, req, body, res)) === 200) {
          stats.appAuthOk++;
        }
      } else {
        const n = ++stats.launchAttempts;
        const scope = (JSON.parse(body) as { allowed_scope: string[] }).allowed_scope;
        if (busy || options.failLaunch?.(n) === true) {
          stats.launchInjected++;
          stats.launchLog.push({ scope, status: 403, injected: true });
          problem(res, 403, "Forbidden", "forbidden", "app not found", path);
        } else {
          const status = await forward(target, req, body, res);
          stats.launchLog.push({ scope, status, injected: false });
          if (status === 201) stats.launchOk++;
        }
      }
    } finally {
      inFlight--;
      if (isLaunch) launchInFlight--;
    }
  });
  return { ...server, stats };
}
