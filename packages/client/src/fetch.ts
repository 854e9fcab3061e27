/**
 * `agent.fetch`: a `fetch` that carries the agent's token to the origins it was given and nowhere
 * else. Redirects are followed by hand (`redirect: "manual"` on the wire): a hop is re-sent with
 * the token only when its target is an allowed origin; otherwise the redirect response itself is
 * returned. The token is renewed shortly before expiry and once after a resource server's 401
 * `invalid_token`; a 403 `insufficient_scope` goes to the step-up policy, if there is one.
 */
import { parseBearerChallenge } from "@agentwrit/guard";
import type { LiveToken } from "./credential.js";
import { AgentWritError } from "./errors.js";
import type { FetchFn } from "./http.js";

/** The most redirects followed for one request (browsers allow 20; agents need few). */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Headers describing a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ["content-type", "content-length", "content-encoding", "content-language", "content-location"];

/**
 * Checks and normalises `allowedOrigins`: each entry must be an http(s) origin (a URL with no
 * path beyond "/", no query, fragment or credentials).
 */
export function normalizeOrigins(origins: readonly (string | URL)[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const o of origins) {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new AgentWritError(`allowedOrigins: ${JSON.stringify(String(o))} is not a URL`);
    }
    if (
      (url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "" || url.hash !== "" ||
      url.username !== "" || url.password !== ""
    ) {
      throw new AgentWritError(`allowedOrigins: ${JSON.stringify(String(o))} is not an http(s) origin such as "https://api.example.com"`);
    }
    out.add(url.origin);
  }
  return out;
}

/** Who may receive the token, and how to send. */
export interface FetchScope {
  readonly origins: ReadonlySet<string>;
  readonly fetch: FetchFn;
}

/** Gets a token for the scopes a 403 challenge named, or declines (`undefined`). */
export type ScopeStepUp = (missing: readonly string[], request: { readonly method: string; readonly url: string }) => Promise<LiveToken | undefined>;

interface Outgoing {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: ArrayBuffer | undefined;
  readonly signal: AbortSignal;
  readonly redirect: RequestRedirect;
}

const allowed = (scope: FetchScope, url: URL): boolean => scope.origins.has(url.origin) && url.username === "" && url.password === "";

/** Sends with `token` and follows redirects within the allowed origins. */
async function follow(scope: FetchScope, out: Outgoing, token: string): Promise<Response> {
  let { url, method, body } = out;
  const headers = new Headers(out.headers);
  for (let hop = 0; ; hop++) {
    headers.set("authorization", `Bearer ${token}`);
    const init: RequestInit = { method, headers, redirect: "manual", signal: out.signal };
    if (body !== undefined) init.body = body;
    const res = await scope.fetch(url.href, init);
    if (!REDIRECT_STATUSES.has(res.status) || out.redirect === "manual") return res;
    if (out.redirect === "error") {
      await res.body?.cancel();
      throw new TypeError(`agent.fetch: ${url.origin} answered a redirect (${String(res.status)}) and redirect is "error"`);
    }
    const location = res.headers.get("location");
    let target: URL;
    try {
      if (location === null) return res;
      target = new URL(location, url);
    } catch {
      return res;
    }
    // Elsewhere, or too far: the redirect itself is the answer, and the token stays here.
    if (hop >= MAX_REDIRECTS || !allowed(scope, target)) return res;
    await res.body?.cancel();
    if ((res.status === 303 && method !== "HEAD") || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = "GET";
      body = undefined;
      for (const h of BODY_HEADERS) headers.delete(h);
    }
    url = target;
  }
}

const challengeOf = (res: Response) => parseBearerChallenge(res.headers.get("www-authenticate"));

/** One token's attempt: renewed first when due; renewed and re-sent once after a 401 `invalid_token`. */
async function sendAs(scope: FetchScope, out: Outgoing, credential: LiveToken): Promise<Response> {
  await credential.ensureFresh();
  const sent = credential.token;
  const res = await follow(scope, out, sent);
  if (res.status !== 401 || challengeOf(res)?.error !== "invalid_token") return res;
  if (!(await credential.renewAfterRefusal(sent))) return res;
  await res.body?.cancel();
  return follow(scope, out, credential.token);
}

/**
 * The request as given, with the token of `primary` (and of a step-up grant after a 403
 * `insufficient_scope`, when `stepUp` is given and agrees).
 */
export async function credentialedFetch(
  scope: FetchScope,
  primary: LiveToken,
  stepUp: ScopeStepUp | undefined,
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const request = new Request(input, init);
  if (request.headers.has("authorization")) {
    throw new AgentWritError("agent.fetch sets the Authorization header itself: remove it from the request");
  }
  const url = new URL(request.url);
  if (!allowed(scope, url)) {
    throw new AgentWritError(`agent.fetch: ${url.origin} is not one of the agent's allowedOrigins; the token is not sent there`);
  }
  // Buffered once, so that a renewal, a step-up or a 307/308 can send the same bytes again.
  const body = request.body === null ? undefined : await request.arrayBuffer();
  const out: Outgoing = { url, method: request.method, headers: request.headers, body, signal: request.signal, redirect: request.redirect };
  const res = await sendAs(scope, out, primary);
  if (stepUp === undefined || res.status !== 403) return res;
  const challenge = challengeOf(res);
  if (challenge?.error !== "insufficient_scope" || challenge.scope.length === 0) return res;
  const grant = await stepUp(challenge.scope, { method: out.method, url: url.href });
  if (grant === undefined) return res;
  await res.body?.cancel();
  return sendAs(scope, out, grant);
}
