/**
 * Programmatic helpers that drive the broker over its own HTTP API (global `fetch`), so tests
 * exercise exactly the code paths a real client does. Admin calls use an admin token minted
 * in-process, which keeps `POST /v1/admin/auth`'s rate limit free for the tests themselves.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import type { DelegationRecord } from "@agentwrit/guard";
import { ADMIN_SCOPES, type BrokerCore } from "./broker.js";
import { ed25519Sign } from "./keys.js";
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
    const ch = await this.call("GET", "/v1/challenge", { expect: 200 });
    const nonce = String(ch.nonce);
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const jwk = publicKey.export({ format: "jwk" });
    const reg = await this.call("POST", "/v1/register", {
      body: {
        launch_token: lt.launch_token,
        nonce,
        public_key: Buffer.from(String(jwk.x), "base64url").toString("base64"),
        signature: ed25519Sign(privateKey, Buffer.from(nonce, "hex")).toString("base64"),
        orch_id: o.orchId,
        task_id: o.taskId,
        requested_scope: o.scope,
      },
      expect: 200,
    });
    return {
      agentId: String(reg.agent_id),
      accessToken: String(reg.access_token),
      expiresIn: Number(reg.expires_in),
      privateKey,
      publicKey,
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
    const body: Json = { delegate_to: o.delegateTo, scope: o.scope };
    if (o.ttl !== undefined) body.ttl = o.ttl;
    const r = await this.call("POST", "/v1/delegate", { token: accessToken, body, expect: 200 });
    return {
      accessToken: String(r.access_token),
      expiresIn: Number(r.expires_in),
      delegationChain: r.delegation_chain as DelegationRecord[],
    };
  }

  async renew(accessToken: string): Promise<RenewResult> {
    const r = await this.call("POST", "/v1/token/renew", { token: accessToken, expect: 200 });
    return { accessToken: String(r.access_token), expiresIn: Number(r.expires_in) };
  }

  async release(accessToken: string): Promise<void> {
    await this.call("POST", "/v1/token/release", { token: accessToken, expect: 204 });
  }
}
