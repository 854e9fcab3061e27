/**
 * Programmatic helpers that drive the broker over its own HTTP API, so tests exercise exactly the
 * code paths a real client does. Where they act as an agent (registration, delegate, renew,
 * release) they go through `@agentwrit/client`, the repository's one agent side; admin calls use
 * an admin token minted in-process, which keeps `POST /v1/admin/auth`'s rate limit free for the
 * tests themselves.
 */
import { KeyObject } from "node:crypto";
import { delegateToken, ProblemResponseError, registerAgent, releaseToken, renewToken } from "@agentwrit/client";
import type { DelegationRecord } from "@agentwrit/guard";
import { ADMIN_SCOPES, type BrokerCore } from "./broker.js";
import type { RevocationLevel } from "./revocation.js";

/** A non-2xx answer from the broker. */
export class DevBrokerError extends Error {
  override readonly name = "DevBrokerError";
  constructor(
    readonly status: number,
    readonly body: unknown,
    path: string,
  ) {
    const detail = typeof body === "object" && body !== null && "detail" in body ? String(body.detail) : "";
    super(`dev broker answered ${String(status)} on ${path}${detail === "" ? "" : ": " + detail}`);
  }
}

export interface CreateAgentOptions {
  readonly orchId: string;
  readonly taskId: string;
  readonly scope: readonly string[];
  /** The launch token's `max_ttl`, which is the agent token's exact TTL (clamped); default 300. */
  readonly ttl?: number;
}

export interface CreatedAgent {
  /** The SPIFFE ID. */
  readonly agentId: string;
  readonly accessToken: string;
  readonly expiresIn: number;
  /** The agent's Ed25519 private key as a Node `KeyObject` (`.export({format:"pem",type:"pkcs8"})` for PEM). */
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface RegisterAppOptions {
  readonly name: string;
  readonly scopes: readonly string[];
  /** Seconds, 60–86400; default: the broker's `appTokenTtl`. */
  readonly tokenTtl?: number;
}

export interface RegisteredApp {
  readonly appId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
  readonly tokenTtl: number;
}

export interface DelegateOptions {
  /** The delegate's SPIFFE ID (a registered agent). */
  readonly delegateTo: string;
  readonly scope: readonly string[];
  /** Seconds; default 60. */
  readonly ttl?: number;
}

export interface DelegateResult {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly delegationChain: readonly DelegationRecord[];
}

export interface RenewResult {
  readonly accessToken: string;
  readonly expiresIn: number;
}

export interface RevokeResult {
  readonly revoked: boolean;
  readonly level: string;
  readonly target: string;
  readonly count: number;
}

type Json = Record<string, unknown>;

export class BrokerClient {
  private admin: { token: string; exp: number } | undefined;

  constructor(
    private readonly b: BrokerCore,
    private readonly url: () => string,
  ) {}

  /**
   * An admin token (`sub:"admin"`, the three admin scopes), minted in-process and cached while it
   * stays valid (a test may renew, release or revoke it).
   */
  adminToken(): string {
    const now = this.b.env.nowSec();
    if (this.admin === undefined || this.admin.exp - now < 30 || !this.b.tokens.verify(this.admin.token).ok) {
      const t = this.b.issue({ sub: "admin", scope: ADMIN_SCOPES, ttl: this.b.options.adminTokenTtl });
      this.admin = { token: t.token, exp: t.claims.exp };
    }
    return this.admin.token;
  }

  async call(method: string, path: string, opts: { token?: string; body?: unknown; expect: number }): Promise<Json> {
    const headers: Record<string, string> = {};
    if (opts.token !== undefined) headers.Authorization = "Bearer " + opts.token;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const init: RequestInit = { method, headers };
    if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
    const res = await fetch(this.url() + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      // keep the text
    }
    if (res.status !== opts.expect) throw new DevBrokerError(res.status, parsed, path);
    return (parsed ?? {}) as Json;
  }

  async createAgent(o: CreateAgentOptions): Promise<CreatedAgent> {
    const lt = await this.call("POST", "/v1/admin/launch-tokens", {
      token: this.adminToken(),
      body: { agent_name: `${o.orchId}/${o.taskId}`, allowed_scope: o.scope, max_ttl: o.ttl ?? 300, single_use: true },
      expect: 201,
    });
    // Extractable, so that tests can export the key as PEM from the KeyObject.
    const keyPair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]));
    const agent = await asDevBrokerError(() =>
      registerAgent({ brokerUrl: this.url(), launchToken: String(lt.launch_token), orchId: o.orchId, taskId: o.taskId, scope: o.scope, privateKey: keyPair }),
    );
    return {
      agentId: agent.agentId,
      accessToken: agent.accessToken,
      expiresIn: agent.expiresIn,
      privateKey: KeyObject.from(keyPair.privateKey),
      publicKey: KeyObject.from(keyPair.publicKey),
    };
  }

  async registerApp(o: RegisterAppOptions): Promise<RegisteredApp> {
    const body: Json = { name: o.name, scopes: o.scopes };
    if (o.tokenTtl !== undefined) body.token_ttl = o.tokenTtl;
    const r = await this.call("POST", "/v1/admin/apps", { token: this.adminToken(), body, expect: 201 });
    return {
      appId: String(r.app_id),
      clientId: String(r.client_id),
      clientSecret: String(r.client_secret),
      scopes: r.scopes as string[],
      tokenTtl: Number(r.token_ttl),
    };
  }

  async revoke(level: RevocationLevel, target: string): Promise<RevokeResult> {
    const r = await this.call("POST", "/v1/revoke", { token: this.adminToken(), body: { level, target }, expect: 200 });
    return r as unknown as RevokeResult;
  }

  async delegate(accessToken: string, o: DelegateOptions): Promise<DelegateResult> {
    const d = await asDevBrokerError(() =>
      delegateToken(this.url(), accessToken, { to: o.delegateTo, scope: o.scope, ...(o.ttl === undefined ? {} : { ttl: o.ttl }) }),
    );
    return { accessToken: d.accessToken, expiresIn: d.expiresIn, delegationChain: d.delegationChain };
  }

  async renew(accessToken: string): Promise<RenewResult> {
    const r = await asDevBrokerError(() => renewToken(this.url(), accessToken));
    return { accessToken: r.accessToken, expiresIn: r.expiresIn };
  }

  release(accessToken: string): Promise<void> {
    return asDevBrokerError(() => releaseToken(this.url(), accessToken));
  }
}

/** The client's broker errors as `DevBrokerError`s (status, the problem body as the broker wrote it). */
async function asDevBrokerError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof ProblemResponseError)) throw e;
    const p = e.problem;
    const body = { type: p.type, title: p.title, status: p.status, detail: p.detail, instance: p.instance, error_code: p.errorCode, request_id: p.requestId };
    throw new DevBrokerError(e.status, body, p.instance);
  }
}
