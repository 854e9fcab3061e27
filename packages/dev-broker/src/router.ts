/**
 * The route table and Go 1.22 `ServeMux` behaviour: method patterns, `GET` also answering
 * `HEAD`, `{id}` matching one non-empty segment, plain-text 404 and 405 (with `Allow`), and a
 * redirect to the cleaned path for unclean paths: 301, as the broker's container image (built
 * with Go ≤ 1.25) answers; a broker built with Go 1.26 answers 307 instead.
 */
import { authenticateBearer, requireScope } from "./bearer.js";
import type { BrokerCore } from "./broker.js";
import { decodeBody } from "./go-json.js";
import { writeProblem, writeRaw, writeText, type RequestContext } from "./http-context.js";

export type Handler = (b: BrokerCore, ctx: RequestContext) => void | Promise<void>;

/** One registered route and its per-route wrappers. */
export interface Route {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly pattern: string;
  readonly handler: Handler;
  /** Require a valid Bearer token (`ValMw.Wrap`). */
  readonly bearer?: boolean;
  /** Then require this scope (`ValMw.RequireScope`). */
  readonly scope?: string;
  /** Rate-limit before anything else. */
  readonly rateLimit?: "admin_auth" | "app_auth";
}

function matchPattern(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split("/");
  const xs = path.split("/");
  if (ps.length !== xs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] ?? "";
    const x = xs[i] ?? "";
    const m = /^\{(\w+)\}$/.exec(p);
    if (m !== null) {
      if (x === "") return null;
      params[m[1] ?? ""] = x;
    } else if (p !== x) return null;
  }
  return params;
}

/** Go's `path.Clean`, keeping a trailing slash as `ServeMux` does. */
export function cleanPath(p: string): string {
  if (p === "") return "/";
  const abs = p.startsWith("/") ? p : "/" + p;
  const out: string[] = [];
  for (const seg of abs.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  let cleaned = "/" + out.join("/");
  if (abs.endsWith("/") && cleaned !== "/") cleaned += "/";
  return cleaned;
}

// Bytes Go's url.URL.EscapedPath leaves as they are (shouldEscape with encodePath).
const PATH_SAFE = /^[A-Za-z0-9\-_.~$&+,/:;=@]$/;

/** The path as `url.URL{Path: p}.String()` writes it: percent-encoded UTF-8, uppercase hex. */
export function escapePathGo(p: string): string {
  let out = "";
  for (const byte of Buffer.from(p, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += PATH_SAFE.test(ch) ? ch : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Go's `hexEscapeNonASCII` for the raw query (whose characters stand for bytes). */
function hexEscapeNonAscii(s: string): string {
  return s.replace(/[\u0080-\uffff]/g, (ch) => {
    const code = ch.charCodeAt(0);
    const bytes = code <= 0xff ? [code] : [...Buffer.from(ch, "utf8")];
    return bytes.map((b) => "%" + b.toString(16).toUpperCase().padStart(2, "0")).join("");
  });
}

function rateLimitKey(ctx: RequestContext, kind: "admin_auth" | "app_auth"): string {
  if (kind === "admin_auth") return ctx.clientIp;
  try {
    const id = decodeBody(ctx.body, { client_id: "string" }).client_id;
    if (id !== undefined && id !== "") return id;
  } catch {
    // Not JSON: fall back to the client IP.
  }
  return ctx.clientIp;
}

export class Router {
  constructor(private readonly routes: readonly Route[]) {}

  async dispatch(b: BrokerCore, ctx: RequestContext, rawQuery: string): Promise<void> {
    const cleaned = cleanPath(ctx.path);
    if (cleaned !== ctx.path && ctx.method !== "CONNECT") {
      const location = hexEscapeNonAscii(escapePathGo(cleaned) + (rawQuery === "" ? "" : "?" + rawQuery));
      ctx.res.setHeader("Location", location);
      const isGet = ctx.method === "GET" || ctx.method === "HEAD";
      writeRaw(ctx, 301, isGet ? "text/html; charset=utf-8" : undefined, isGet ? `<a href="${escapeHtml(location)}">Moved Permanently</a>.\n\n` : "");
      return;
    }
    const candidates: { route: Route; params: Record<string, string> }[] = [];
    for (const route of this.routes) {
      const params = matchPattern(route.pattern, ctx.path);
      if (params !== null) candidates.push({ route, params });
    }
    if (candidates.length === 0) {
      writeText(ctx, 404, "404 page not found");
      return;
    }
    const method = ctx.method === "HEAD" ? "GET" : ctx.method;
    const hit = candidates.find((c) => c.route.method === method);
    if (hit === undefined) {
      const allowed = new Set<string>();
      for (const c of candidates) {
        allowed.add(c.route.method);
        if (c.route.method === "GET") allowed.add("HEAD");
      }
      ctx.res.setHeader("Allow", [...allowed].sort().join(", "));
      writeText(ctx, 405, "Method Not Allowed");
      return;
    }
    ctx.params = hit.params;
    const r = hit.route;
    if (r.rateLimit !== undefined) {
      const limiter = r.rateLimit === "admin_auth" ? b.adminAuthLimiter : b.appAuthLimiter;
      if (!limiter.allow(rateLimitKey(ctx, r.rateLimit))) {
        ctx.res.setHeader("Retry-After", String(limiter.retryAfter));
        writeProblem(ctx, 429, "rate_limited", "rate limit exceeded, try again later");
        return;
      }
    }
    if (r.bearer === true && !authenticateBearer(b, ctx)) return;
    if (r.scope !== undefined && !requireScope(b, ctx, r.scope)) return;
    await r.handler(b, ctx);
  }
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&#34;").replace(/'/g, "&#39;");
}
