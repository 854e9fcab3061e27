/// <reference lib="esnext.disposable" preserve="true" />
/**
 * A registered agent: its SPIFFE ID, its key pair, and its live token. Parity with the Python
 * SDK's `Agent` (renew, release, delegate, bearer header), plus `fetch` to allowed origins with
 * renewal and opt-in step-up, and release by construction (`await using`).
 */
import { scopeIsSubset } from "@agentwrit/guard";
import { LiveToken } from "./credential.js";
import { AgentWritError, AuthenticationError } from "./errors.js";
import { credentialedFetch, normalizeOrigins, type FetchScope } from "./fetch.js";
import type { BrokerConnection } from "./http.js";
import { wantedScope, type StepUpPolicy } from "./step-up.js";
import { DelegatedToken, delegateWith, type DelegateOptions, type IssuedToken } from "./token-ops.js";

/**
 * `Symbol.asyncDispose`, or the `Symbol.for` key that polyfills and TypeScript's downlevel helpers
 * agree on where the runtime lacks it.
 */
export const asyncDisposeKey: typeof Symbol.asyncDispose = ((Symbol as { readonly asyncDispose?: symbol }).asyncDispose ??
  Symbol.for("Symbol.asyncDispose")) as typeof Symbol.asyncDispose;

/** How `agent.fetch` behaves. */
export interface AgentFetchOptions {
  /**
   * The origins (`https://api.example.com`) that may receive the token. `agent.fetch` refuses any
   * other, and never follows a redirect elsewhere with the token. Required for `agent.fetch`.
   */
  readonly allowedOrigins?: readonly (string | URL)[];
  /** Scope step-up on a 403 `insufficient_scope` (see `stepUpWithNewAgent`, `stepUpByDelegation`). Off by default. */
  readonly stepUp?: StepUpPolicy;
  /** Seconds before expiry at which `agent.fetch` renews the token. Default: a quarter of its lifetime, at most 30. */
  readonly renewBeforeSeconds?: number;
}

/**
 * Checks the fetch options (before any request, so that a mistake costs no launch token) and
 * returns the normalised origins.
 */
export function checkFetchOptions(options: AgentFetchOptions): ReadonlySet<string> {
  const renewBefore = options.renewBeforeSeconds;
  if (renewBefore !== undefined && (typeof renewBefore !== "number" || !Number.isFinite(renewBefore) || renewBefore < 0)) {
    throw new AgentWritError("renewBeforeSeconds must be a number of seconds ≥ 0");
  }
  if (options.stepUp !== undefined && typeof options.stepUp !== "function") throw new AgentWritError("stepUp must be a function (a StepUpPolicy)");
  return normalizeOrigins(options.allowedOrigins ?? []);
}

/** What the registration produced; internal to this package. */
export interface AgentInit {
  readonly conn: BrokerConnection;
  readonly issued: IssuedToken;
  readonly agentId: string;
  readonly orchId: string;
  readonly taskId: string;
  readonly scope: readonly string[];
  readonly keyPair: CryptoKeyPair;
  readonly fetchOptions: AgentFetchOptions;
}

interface Grant {
  readonly scope: readonly string[];
  readonly live: LiveToken;
  release(): Promise<void>;
}

export class Agent {
  /** The SPIFFE ID the broker assigned. */
  readonly agentId: string;
  readonly orchId: string;
  readonly taskId: string;
  /** The scope the broker granted: the issued token's `scope` claim (the Python SDK reports the requested one). */
  readonly scope: readonly string[];
  /** The Ed25519 key pair registered for this agent. */
  readonly keyPair: CryptoKeyPair;
  /** The origins `fetch` may send the token to (empty: `fetch` refuses every request). */
  readonly allowedOrigins: readonly string[];

  readonly #conn: BrokerConnection;
  readonly #live: LiveToken;
  readonly #fetchScope: FetchScope;
  readonly #stepUp: StepUpPolicy | undefined;
  readonly #grants: Grant[] = [];
  readonly #grantsInFlight = new Map<string, Promise<LiveToken | undefined>>();

  /** Agents come from `app.createAgent` or `registerAgent`. */
  constructor(init: AgentInit) {
    const origins = checkFetchOptions(init.fetchOptions);
    const renewBefore = init.fetchOptions.renewBeforeSeconds;
    this.agentId = init.agentId;
    this.orchId = init.orchId;
    this.taskId = init.taskId;
    this.scope = init.scope;
    this.keyPair = init.keyPair;
    this.allowedOrigins = Object.freeze([...origins]);
    this.#conn = init.conn;
    this.#live = new LiveToken(init.conn, init.issued, renewBefore, "agent");
    this.#fetchScope = { origins, fetch: init.conn.fetch };
    this.#stepUp = init.fetchOptions.stepUp;
  }

  /** The current token (it changes on renewal). */
  get accessToken(): string {
    return this.#live.token;
  }
  get expiresIn(): number {
    return this.#live.expiresIn;
  }
  get expiresAt(): Date {
    return this.#live.expiresAt;
  }
  get released(): boolean {
    return this.#live.released;
  }
  /** `{ Authorization: "Bearer <token>" }`. */
  get bearerHeader(): { readonly Authorization: string } {
    return { Authorization: `Bearer ${this.#live.token}` };
  }

  /** `POST /v1/token/renew`: replaces the token in place (the old one is revoked). */
  renew(): Promise<void> {
    return this.#live.renew();
  }

  /**
   * `POST /v1/token/release`, and the release of every step-up grant (even when the agent's own
   * release fails). A second call does nothing.
   * A 401 (the token already expired) throws `AuthenticationError` and leaves `released` false, as
   * in the Python SDK; `await using` and `app.withAgent` treat that as released.
   */
  async release(): Promise<void> {
    try {
      await this.#live.release();
    } finally {
      await this.#releaseGrants();
    }
  }

  /** `POST /v1/delegate`: a token for the agent `to`, with `scope` ⊆ this agent's scope. */
  delegate(options: DelegateOptions): Promise<DelegatedToken> {
    if (this.#live.released) return Promise.reject(new AgentWritError("agent has been released and cannot delegate"));
    return delegateWith(this.#conn, this.#live.token, options);
  }

  /**
   * `fetch` with `Authorization: Bearer <token>`, to the agent's `allowedOrigins` only (any other
   * origin throws before anything is sent). Bound: pass it around as a plain function.
   */
  readonly fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (this.#fetchScope.origins.size === 0) {
      return Promise.reject(new AgentWritError("agent.fetch needs allowedOrigins: give them to createAgent/registerAgent"));
    }
    const stepUp = this.#stepUp === undefined ? undefined : this.#grantFor.bind(this);
    return credentialedFetch(this.#fetchScope, this.#live, stepUp, input, init);
  };

  async #grantFor(missing: readonly string[], request: { readonly method: string; readonly url: string }): Promise<LiveToken | undefined> {
    const policy = this.#stepUp;
    if (policy === undefined || this.#live.released) return undefined;
    const held = this.#grants.find((g) => !g.live.released && scopeIsSubset(missing, g.scope));
    if (held !== undefined) return held.live;
    const key = [...missing].sort().join(" ");
    let pending = this.#grantsInFlight.get(key);
    if (pending === undefined) {
      pending = (async () => {
        const decision = await policy({ agent: this, method: request.method, url: request.url, missing, held: this.scope, wanted: wantedScope(this.scope, missing) });
        if (decision === undefined || decision === null) return undefined;
        const grant = this.#adopt(decision);
        this.#grants.push(grant);
        return grant.live;
      })().finally(() => this.#grantsInFlight.delete(key));
      this.#grantsInFlight.set(key, pending);
    }
    return pending;
  }

  #adopt(decision: unknown): Grant {
    if (decision instanceof Agent) return { scope: decision.scope, live: decision.#live, release: () => decision.release() };
    if (decision instanceof DelegatedToken) {
      const live = new LiveToken(this.#conn, decision, undefined, "step-up token");
      return { scope: decision.scope, live, release: () => live.release() };
    }
    throw new AgentWritError("a step-up policy must return an Agent, a DelegatedToken, or undefined");
  }

  async #releaseGrants(): Promise<void> {
    const grants = this.#grants.splice(0);
    const failures: unknown[] = [];
    for (const g of grants) {
      try {
        await g.release();
      } catch (e) {
        // Already expired or revoked: nothing left to release.
        if (e instanceof AuthenticationError) g.live.markReleased();
        else failures.push(e);
      }
    }
    if (failures.length > 0) {
      throw new AgentWritError(`agent released, but ${String(failures.length)} step-up token(s) could not be released`, { cause: failures[0] });
    }
  }

  /** Releases the agent; a token the broker already refuses (401) counts as released. */
  async [asyncDisposeKey](): Promise<void> {
    try {
      await this.release();
    } catch (e) {
      if (!(e instanceof AuthenticationError) || this.#live.released) throw e;
      this.#live.markReleased();
    }
  }

  /** Everything but the token. */
  toJSON(): Record<string, unknown> {
    return {
      agentId: this.agentId,
      orchId: this.orchId,
      taskId: this.taskId,
      scope: this.scope,
      expiresIn: this.expiresIn,
      expiresAt: this.expiresAt,
      released: this.released,
      allowedOrigins: this.allowedOrigins,
    };
  }
}
