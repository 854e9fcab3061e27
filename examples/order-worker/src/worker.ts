/**
 * The agent side, told step by step with `@agentwrit/client`: an agent created for one task,
 * its claims as the broker validates them, its own customer and order, refusals on everything
 * else, release, and the dead token.
 *
 * 1. `app.createAgent` — the client authenticates the app (`POST /v1/app/auth`), gets a
 *    single-use launch token for exactly this task's scopes, signs the broker's challenge nonce
 *    with a fresh Ed25519 key and registers (`/v1/challenge`, `/v1/register`);
 * 2. `app.validate` — the broker's view of the token: its claims, printed (never the token);
 * 3. `agent.fetch` — the order API with the token, which goes to the API's origin and nowhere else:
 *    its own customer and order (200), another customer and another order (403);
 * 4. `agent.release()` — the broker revokes the token: validate says it is dead, the API refuses it (401).
 */
import { AgentWritApp, ProblemResponseError, type Agent, type FetchFn } from "@agentwrit/client";

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
  /** Receives one line per step and per HTTP exchange (never a token). */
  readonly log?: (line: string) => void;
}

/** One HTTP exchange the step made, to the broker or to the API. */
export interface Exchange {
  readonly target: "broker" | "api";
  readonly method: string;
  readonly path: string;
  /** The HTTP status (0 when the request itself failed). */
  readonly status: number;
}

/** One step of the story and whether it came out as expected. */
export interface WorkerStep {
  readonly name: string;
  /** What the step expects: an HTTP status ("200") or an outcome ("valid", "dead"). */
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
  /** What came back, in a few words (an id, claims, an error code; never a token). */
  readonly detail: string;
  readonly exchanges: readonly Exchange[];
}

const other = (id: string): string => (/^\d+$/.test(id) ? String(Number(id) + 1) : `${id}-other`);

/** The first 8 hex characters of the token's `jti`: enough to follow it in a log, useless to an attacker. */
export function tokenFingerprint(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
    return typeof claims.jti === "string" ? `jti ${claims.jti.slice(0, 8)}…` : "jti ?";
  } catch {
    return "jti ?";
  }
}

/** `✓      200  read its customer: Ada Example`; a failed step also says what was expected. */
export function formatStep(s: WorkerStep): string {
  const outcome = `${s.actual.padStart(8)}${s.ok ? "" : ` (expected ${s.expected})`}`;
  return `${s.ok ? "✓" : "✗"} ${outcome}  ${s.name}${s.detail === "" ? "" : ": " + s.detail}`;
}

/** `POST broker /v1/app/auth → 200`. */
export function formatExchange(x: Exchange): string {
  return `${x.method.padEnd(4)} ${x.target.padEnd(6)} ${x.path} → ${String(x.status)}`;
}

/** Why a request was refused, from the guard's problem+json (`code`) and challenge (`scope`). */
async function refusal(res: Response): Promise<string> {
  const scope = /scope="([^"]*)"/.exec(res.headers.get("www-authenticate") ?? "")?.[1];
  let code: unknown;
  try {
    code = ((await res.json()) as { code?: unknown }).code;
  } catch {
    code = undefined;
  }
  return [code, scope === undefined ? undefined : `missing ${scope}`].filter((x): x is string => typeof x === "string" && x !== "").join(", ");
}

const describeError = (e: unknown): { actual: string; detail: string } =>
  e instanceof ProblemResponseError
    ? { actual: String(e.status), detail: `${e.errorCode ?? e.name}: ${e.problem.detail}` }
    : { actual: "error", detail: e instanceof Error ? e.message : String(e) };

/**
 * Runs the task and returns every step. It stops early (with the failed step last) when the agent
 * cannot be created, since nothing after it could run.
 */
export async function runOrderWorker(options: OrderWorkerOptions): Promise<WorkerStep[]> {
  const { customerId, orderId } = options;
  const apiOrigin = new URL(options.apiUrl).origin;
  const steps: WorkerStep[] = [];
  let exchanges: Exchange[] = [];

  // Every HTTP exchange of the client (broker and API alike) is recorded for the story.
  const recording: FetchFn = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const x = { target: url.origin === apiOrigin ? "api" : "broker", method: init?.method ?? "GET", path: url.pathname } as const;
    try {
      const res = await fetch(input, init);
      exchanges.push({ ...x, status: res.status });
      return res;
    } catch (e) {
      exchanges.push({ ...x, status: 0 });
      throw e;
    }
  };
  const step = (name: string, expected: string, actual: string, detail: string): boolean => {
    const s: WorkerStep = { name, expected, actual, ok: actual === expected, detail, exchanges };
    exchanges = [];
    steps.push(s);
    options.log?.(formatStep(s));
    for (const x of s.exchanges) options.log?.(`      ${formatExchange(x)}`);
    return s.ok;
  };
  const call = async (agent: Agent, name: string, expected: number, method: "GET" | "POST", path: string, describe: (body: Record<string, unknown>) => string) => {
    const res = await agent.fetch(options.apiUrl.replace(/\/+$/, "") + path, { method });
    const detail = res.ok ? describe((await res.json()) as Record<string, unknown>) : await refusal(res);
    return step(name, String(expected), String(res.status), detail);
  };

  const app = new AgentWritApp({ brokerUrl: options.brokerUrl, clientId: options.clientId, clientSecret: options.clientSecret, fetch: recording });
  const scope = [`read:data:customer-${customerId}`, `write:data:order-${orderId}`];

  // 1. An agent for exactly this task: its own customer and its own order. `await using` releases
  //    it however this function ends; the story releases it itself (step 4), which makes that a no-op.
  let created: Agent;
  try {
    created = await app.createAgent({ orchId: "orders", taskId: `confirm-order-${orderId}`.replace(/[^A-Za-z0-9._-]/g, "_"), scope, allowedOrigins: [apiOrigin] });
  } catch (e) {
    const { actual, detail } = describeError(e);
    step("create the agent", "agent", actual, detail);
    return steps;
  }
  await using agent = created;
  step("create the agent", "agent", "agent", `${agent.agentId} (${tokenFingerprint(agent.accessToken)}, expires in ${String(agent.expiresIn)} s)`);

  // 2. What the broker says about the token.
  const v = await app.validate(agent.accessToken);
  step(
    "validate and print the claims",
    "valid",
    v.valid ? "valid" : "invalid",
    v.valid ? `sub ${v.claims.sub}; scope ${v.claims.scope.join(" ")}; task ${v.claims.task_id ?? "-"}; orch ${v.claims.orch_id ?? "-"}; expires in ${String(v.claims.exp - Math.floor(Date.now() / 1000))} s` : v.error,
  );

  // 3. The task: its own customer and order, and nothing else.
  const enc = encodeURIComponent;
  await call(agent, "read its customer", 200, "GET", `/customers/${enc(customerId)}`, (b) => String(b.name));
  await call(agent, "write its order", 200, "POST", `/orders/${enc(orderId)}/confirm`, (b) => String(b.status));
  await call(agent, "blocked on another customer", 403, "GET", `/customers/${enc(options.otherCustomerId ?? other(customerId))}`, () => "");
  await call(agent, "blocked on another order", 403, "POST", `/orders/${enc(options.otherOrderId ?? other(orderId))}/confirm`, () => "");

  // 4. Done: the agent gives its token back; the broker and the API refuse it from then on.
  await agent.release();
  step("release", "released", agent.released ? "released" : "not released", "");
  const dead = await app.validate(agent.accessToken);
  step("the token is dead", "dead", dead.valid ? "valid" : "dead", dead.valid ? "" : dead.error);
  await call(agent, "the API refuses it", 401, "GET", `/customers/${enc(customerId)}`, () => "");
  return steps;
}
