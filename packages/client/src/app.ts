/**
 * `AgentWritApp`: an app's credentials and what it does with them (Part C.1–C.2). No HTTP at
 * construction; `POST /v1/app/auth` before the first agent and again when the app token is near
 * expiry, single-flight and shared by concurrent `createAgent` calls.
 *
 * Against the real broker (Appendix 3), concurrent app requests fail as SQLite lock errors: a 500
 * from `/v1/app/auth` and a 403 "app not found" from `/v1/app/launch-tokens`. Launch-token
 * requests are therefore serialised per app, and exactly those two failures are retried a
 * bounded number of times with backoff. A 403 for a scope over the app's ceiling is never retried.
 */
import { type Agent, asyncDisposeKey } from "./agent.js";
import { resolveAgentKey } from "./crypto.js";
import { AgentWritError, AuthenticationError, AuthorizationError, ProblemResponseError } from "./errors.js";
import { BrokerConnection, intField, objectBody, stringField, type BrokerOptions } from "./http.js";
import { checkAgentRequest, registerWith, type AgentRequest } from "./register.js";
import { SerialQueue, withRetries, type RetryPolicy } from "./retry.js";
import { healthWith, validateWith, type HealthStatus, type ValidateResult } from "./validate.js";

export interface AgentWritAppOptions extends BrokerOptions {
  /** The broker's base URL, e.g. `https://broker.example.com` (a trailing `/` is dropped). */
  readonly brokerUrl: string;
  /** The app's credentials (`POST /v1/admin/apps` shows the secret once). */
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface CreateAgentOptions extends AgentRequest {
  /** The agent token's exact lifetime in seconds (the launch token's `max_ttl`). @default 300 */
  readonly maxTtl?: number;
  /** The launch token's `agent_name`. @default `${orchId}/${taskId}` */
  readonly label?: string;
}

const APP_AUTH = "/v1/app/auth";
const LAUNCH_TOKENS = "/v1/app/launch-tokens";
const DEFAULT_MAX_TTL = 300;

/** A 500 from `/v1/app/auth` (the real broker's lock failure): retried. */
const APP_AUTH_RETRY: RetryPolicy = { retries: 5, baseDelayMs: 50, maxDelayMs: 1000 };
/** A 403 "app not found" from `/v1/app/launch-tokens` (the same lock failure): retried. */
const LAUNCH_RETRY: RetryPolicy = { retries: 6, baseDelayMs: 25, maxDelayMs: 800 };

const isServerError = (e: unknown): boolean => e instanceof ProblemResponseError && e.status === 500;
const isAppNotFound = (e: unknown): boolean => e instanceof AuthorizationError && e.problem.detail === "app not found";

interface AppSession {
  readonly token: string;
  /** When to authenticate again: 60 s before expiry, or halfway for app tokens shorter than 2 min. */
  readonly refreshAtMs: number;
}

export class AgentWritApp {
  readonly brokerUrl: string;
  readonly clientId: string;
  readonly #clientSecret: string;
  readonly #conn: BrokerConnection;
  #session: AppSession | undefined;
  #authenticating: Promise<string> | undefined;
  readonly #launchQueue = new SerialQueue();

  constructor(options: AgentWritAppOptions) {
    this.#conn = new BrokerConnection(options.brokerUrl, options);
    this.brokerUrl = this.#conn.url;
    if (typeof options.clientId !== "string" || options.clientId === "") throw new AgentWritError("clientId is required");
    if (typeof options.clientSecret !== "string" || options.clientSecret === "") throw new AgentWritError("clientSecret is required");
    this.clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
  }

  /** `GET /v1/health` (no authentication). */
  health(): Promise<HealthStatus> {
    return healthWith(this.#conn);
  }

  /** `POST /v1/token/validate` on this app's broker (no authentication). */
  validate(token: string): Promise<ValidateResult> {
    return validateWith(this.#conn, token);
  }

  /**
   * App authentication when needed → `POST /v1/app/launch-tokens` (serialised) → challenge →
   * Ed25519 signature → `POST /v1/register`: the Python SDK's call order and request bodies.
   */
  async createAgent(options: CreateAgentOptions): Promise<Agent> {
    checkAgentRequest(options);
    const maxTtl = options.maxTtl ?? DEFAULT_MAX_TTL;
    if (!Number.isSafeInteger(maxTtl) || maxTtl <= 0) throw new AgentWritError("maxTtl must be a positive whole number of seconds");
    if (options.label !== undefined && (typeof options.label !== "string" || options.label === "")) throw new AgentWritError("label must be a non-empty string");
    const keyPair = await resolveAgentKey(options.privateKey);
    const launchToken = await this.#launchToken({
      agent_name: options.label ?? `${options.orchId}/${options.taskId}`,
      allowed_scope: options.scope,
      max_ttl: maxTtl,
      single_use: true,
    });
    return registerWith(this.#conn, launchToken, options, keyPair);
  }

  /**
   * Creates an agent, runs `fn` with it, and releases it in `finally`. When `fn` throws, its error
   * is what `withAgent` throws (a release failure after it is dropped: the token expires anyway).
   */
  async withAgent<T>(options: CreateAgentOptions, fn: (agent: Agent) => T | Promise<T>): Promise<T> {
    const agent = await this.createAgent(options);
    let result: T;
    try {
      result = await fn(agent);
    } catch (e) {
      await agent[asyncDisposeKey]().catch(() => undefined);
      throw e;
    }
    await agent[asyncDisposeKey]();
    return result;
  }

  /** The app token: the cached one until its refresh time, else one shared authentication. */
  #appToken(): Promise<string> {
    const session = this.#session;
    if (session !== undefined && Date.now() < session.refreshAtMs) return Promise.resolve(session.token);
    this.#authenticating ??= withRetries(APP_AUTH_RETRY, isServerError, () => this.#authenticate())
      .then((s) => {
        this.#session = s;
        return s.token;
      })
      .finally(() => {
        this.#authenticating = undefined;
      });
    return this.#authenticating;
  }

  async #authenticate(): Promise<AppSession> {
    const answer = objectBody(await this.#conn.call("POST", APP_AUTH, { body: { client_id: this.clientId, client_secret: this.#clientSecret } }), APP_AUTH);
    const expiresIn = intField(answer, "expires_in", APP_AUTH);
    const margin = Math.min(60, expiresIn / 2);
    return { token: stringField(answer, "access_token", APP_AUTH), refreshAtMs: Date.now() + (expiresIn - margin) * 1000 };
  }

  /**
   * One launch token, in this app's queue. "app not found" is retried with backoff; a 401 (the
   * app token was revoked or expired early) authenticates once more.
   */
  async #launchToken(body: Readonly<Record<string, unknown>>): Promise<string> {
    // Concurrent callers join one authentication (and share its failure) before queueing.
    await this.#appToken();
    return this.#launchQueue.run(async () => {
      for (let reauthenticated = false; ; reauthenticated = true) {
        const appToken = await this.#appToken();
        try {
          const answer = await withRetries(LAUNCH_RETRY, isAppNotFound, () => this.#conn.call("POST", LAUNCH_TOKENS, { token: appToken, body }));
          return stringField(objectBody(answer, LAUNCH_TOKENS), "launch_token", LAUNCH_TOKENS);
        } catch (e) {
          if (!(e instanceof AuthenticationError) || reauthenticated) throw e;
          if (this.#session?.token === appToken) this.#session = undefined;
        }
      }
    });
  }

  /** Everything but the secret. */
  toJSON(): Record<string, unknown> {
    return { brokerUrl: this.brokerUrl, clientId: this.clientId };
  }
}
