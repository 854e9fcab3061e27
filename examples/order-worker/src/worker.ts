/**
 * The agent side, as an AI agent's runtime would do it: plain `fetch` against the broker's HTTP
 * API and the order API, Ed25519 from `node:crypto`, nothing from this repository.
 *
 * 1. `POST /v1/app/auth` with the app's client credentials → an app token;
 * 2. `POST /v1/app/launch-tokens` → a single-use launch token for exactly the scopes the task needs;
 * 3. `GET /v1/challenge` → a nonce; the agent signs the hex-decoded nonce with a fresh Ed25519 key;
 * 4. `POST /v1/register` → the agent's SPIFFE ID and its short-lived agent token;
 * 5. the order API, with `Authorization: Bearer <agent token>`;
 * 6. `POST /v1/token/release` when the task is done, after which the token is refused everywhere.
 */
import { generateKeyPairSync, sign } from "node:crypto";

export interface OrderWorkerOptions {
  /** The AgentWrit broker, e.g. `http://127.0.0.1:8080`. */
  readonly brokerUrl: string;
  /** The order API, e.g. `http://127.0.0.1:3000`. */
  readonly apiUrl: string;
  /** The app's credentials (`POST /v1/admin/apps`; the secret is shown once). */
  readonly clientId: string;
  readonly clientSecret: string;
  /** The one customer and the one order this task may touch. */
  readonly customerId: string;
  readonly orderId: string;
  /** Ids the agent must be refused (default: the next number, or `<id>-other`). */
  readonly otherCustomerId?: string;
  readonly otherOrderId?: string;
  /** Receives one line per step (never a token). */
  readonly log?: (line: string) => void;
}

/** One HTTP exchange and whether it came out as expected. */
export interface WorkerStep {
  readonly name: string;
  readonly method: "GET" | "POST";
  /** Where it went: `broker` or `api`, and the path. */
  readonly target: "broker" | "api";
  readonly path: string;
  readonly expected: number;
  /** The HTTP status received (0 when the request itself failed). */
  readonly actual: number;
  readonly ok: boolean;
  /** What came back, in a few words (an id, an error code; never a token). */
  readonly detail: string;
}

type Json = Record<string, unknown>;

const other = (id: string): string => (/^\d+$/.test(id) ? String(Number(id) + 1) : `${id}-other`);
const stdBase64 = (b64url: string): string => Buffer.from(b64url, "base64url").toString("base64");

/** The first 8 hex characters of the token's `jti`: enough to follow it in a log, useless to an attacker. */
export function tokenFingerprint(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Json;
    return typeof claims.jti === "string" ? `jti ${claims.jti.slice(0, 8)}…` : "jti ?";
  } catch {
    return "jti ?";
  }
}

/** `✓ 200 (expected 200)  GET  api /customers/42  read its customer: Ada Example`. */
export function formatStep(s: WorkerStep): string {
  const status = `${s.ok ? "✓" : "✗"} ${String(s.actual).padStart(3)} (expected ${s.expected})`;
  return `${status}  ${s.method.padEnd(4)} ${s.target.padEnd(6)} ${s.path.padEnd(24)} ${s.name}${s.detail === "" ? "" : ": " + s.detail}`;
}

/** Why a request was refused, from the guard's problem+json (`code`) or the broker's (`error_code`, `detail`). */
function refusal(res: Response, body: Json): string {
  const scope = /scope="([^"]*)"/.exec(res.headers.get("www-authenticate") ?? "")?.[1];
  const parts = [body.code ?? body.error_code, scope === undefined ? undefined : `missing ${scope}`];
  if (body.code === undefined) parts.push(body.detail);
  return parts.filter((x): x is string => typeof x === "string" && x !== "").join(", ");
}

/**
 * Runs the task and returns every step. It stops early (with the failed step last) when a broker
 * step does not succeed, since nothing after it could run.
 */
export async function runOrderWorker(options: OrderWorkerOptions): Promise<WorkerStep[]> {
  const { brokerUrl, apiUrl, customerId, orderId } = options;
  const steps: WorkerStep[] = [];
  const scope = [`read:data:customer-${customerId}`, `write:data:order-${orderId}`];

  async function step(
    name: string,
    target: "broker" | "api",
    method: "GET" | "POST",
    path: string,
    expected: number,
    init: { token?: string; body?: Json },
    describe: (body: Json) => string = () => "",
  ): Promise<Json | undefined> {
    const headers: Record<string, string> = {};
    if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch((target === "broker" ? brokerUrl : apiUrl).replace(/\/+$/, "") + path, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    let body: Json = {};
    try {
      body = text === "" ? {} : (JSON.parse(text) as Json);
    } catch {
      // not JSON: no detail
    }
    const ok = res.status === expected;
    const detail = res.ok ? describe(body) : refusal(res, body);
    const s: WorkerStep = { name, method, target, path, expected, actual: res.status, ok, detail };
    steps.push(s);
    options.log?.(formatStep(s));
    return ok ? body : undefined;
  }

  // The app authenticates; its token can only mint launch tokens within the app's scope ceiling.
  const app = await step("app authenticates", "broker", "POST", "/v1/app/auth", 200, {
    body: { client_id: options.clientId, client_secret: options.clientSecret },
  });
  if (app === undefined) return steps;
  const launch = await step(
    "launch token for this task",
    "broker",
    "POST",
    "/v1/app/launch-tokens",
    201,
    { token: String(app.access_token), body: { agent_name: "order-worker", allowed_scope: scope, max_ttl: 300, single_use: true } },
    () => scope.join(" "),
  );
  if (launch === undefined) return steps;

  // The agent proves possession of a fresh Ed25519 key by signing the broker's nonce.
  const challenge = await step("challenge nonce", "broker", "GET", "/v1/challenge", 200, {});
  if (challenge === undefined) return steps;
  const nonce = String(challenge.nonce);
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const registered = await step(
    "agent registers",
    "broker",
    "POST",
    "/v1/register",
    200,
    {
      body: {
        launch_token: launch.launch_token,
        nonce,
        public_key: stdBase64(String(publicKey.export({ format: "jwk" }).x)),
        signature: sign(null, Buffer.from(nonce, "hex"), privateKey).toString("base64"),
        orch_id: "orders",
        task_id: `confirm-order-${orderId}`.replace(/[^A-Za-z0-9._-]/g, "_"),
        requested_scope: scope,
      },
    },
    (b) => `${String(b.agent_id)} (${tokenFingerprint(String(b.access_token))}, expires in ${String(b.expires_in)} s)`,
  );
  if (registered === undefined) return steps;
  const token = String(registered.access_token);

  // The task, with the agent token: its own customer and order, and nothing else.
  const enc = encodeURIComponent;
  const otherCustomer = options.otherCustomerId ?? other(customerId);
  const otherOrder = options.otherOrderId ?? other(orderId);
  await step("read its customer", "api", "GET", `/customers/${enc(customerId)}`, 200, { token }, (b) => String(b.name));
  await step("confirm its order", "api", "POST", `/orders/${enc(orderId)}/confirm`, 200, { token }, (b) => String(b.status));
  await step("read another customer", "api", "GET", `/customers/${enc(otherCustomer)}`, 403, { token });
  await step("confirm another order", "api", "POST", `/orders/${enc(otherOrder)}/confirm`, 403, { token });
  await step("read the admin report", "api", "GET", "/admin/report", 403, { token });

  // Done: the agent gives its token back, and the API refuses it from the next request on.
  await step("release the token", "broker", "POST", "/v1/token/release", 204, { token });
  await step("reuse the released token", "api", "GET", `/customers/${enc(customerId)}`, 401, { token });
  return steps;
}
