/**
 * `@agentwrit/dev-broker`: an in-process, loopback-only AgentWrit development broker that speaks
 * the real broker's HTTP protocol. A development and test tool, not a production broker: all
 * state is in memory and it binds to loopback only.
 */
import type { AddressInfo } from "node:net";
import { BrokerCore, type DevBrokerStats } from "./broker.js";
import {
  BrokerClient,
  type CreateAgentOptions,
  type CreatedAgent,
  type DelegateOptions,
  type DelegateResult,
  type RegisterAppOptions,
  type RegisteredApp,
  type RenewResult,
  type RevokeResult,
} from "./client.js";
import type { PublicJwk } from "./keys.js";
import { resolveOptions, type DevBrokerOptions } from "./options.js";
import type { RevocationLevel } from "./revocation.js";
import { createBrokerServer } from "./server.js";

export { DevBrokerError } from "./client.js";
export type {
  CreateAgentOptions,
  CreatedAgent,
  DelegateOptions,
  DelegateResult,
  RegisterAppOptions,
  RegisteredApp,
  RenewResult,
  RevokeResult,
} from "./client.js";
export type { DevBrokerOptions } from "./options.js";
export type { DevBrokerStats } from "./broker.js";
export type { PublicJwk } from "./keys.js";
export type { RevocationLevel } from "./revocation.js";
export type { ClockUse, NowFn, RandomHexFn, RandomKind } from "./clock.js";

/** A running development broker. */
export interface DevBroker {
  /** Base URL, e.g. `http://127.0.0.1:43121` (no trailing slash). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The `kid` in every token header (RFC 7638 thumbprint of the public key). */
  readonly kid: string;
  /** The signing key's public half, PEM SPKI. */
  readonly publicKeyPem: string;
  /** The signing key's public half as a JWK (with `kid`). */
  readonly publicKeyJwk: PublicJwk;
  /** The admin secret for `POST /v1/admin/auth`. */
  readonly adminSecret: string;
  /** The configured issuer (`""` by default) and audience (`undefined` when none). */
  readonly issuer: string;
  readonly audience: string | undefined;
  readonly trustDomain: string;
  /** Live counters; `validateCalls` counts requests handled by `POST /v1/token/validate`. */
  readonly stats: Readonly<DevBrokerStats>;
  /** Sets every counter in `stats` back to 0. */
  resetStats(): void;
  /** An admin token minted in-process (cached until 30 s before expiry). */
  adminToken(): string;
  /** Launch token (admin route, `max_ttl` = `ttl`) → challenge → Ed25519-signed register, over HTTP. */
  createAgent(options: CreateAgentOptions): Promise<CreatedAgent>;
  /** `POST /v1/admin/apps`; the only time the client secret is visible. */
  registerApp(options: RegisterAppOptions): Promise<RegisteredApp>;
  /** `POST /v1/revoke` with an admin token. */
  revoke(level: RevocationLevel, target: string): Promise<RevokeResult>;
  /** `POST /v1/delegate` with `accessToken` as the delegator. */
  delegate(accessToken: string, options: DelegateOptions): Promise<DelegateResult>;
  /** `POST /v1/token/renew` (revokes `accessToken`). */
  renew(accessToken: string): Promise<RenewResult>;
  /** `POST /v1/token/release` (revokes `accessToken`). */
  release(accessToken: string): Promise<void>;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts a development broker on loopback (an ephemeral port unless `port` is given). */
export async function startDevBroker(options: DevBrokerOptions = {}): Promise<DevBroker> {
  const resolved = resolveOptions(options);
  const core = await BrokerCore.create(resolved);
  const server = createBrokerServer(core);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${hostForUrl}:${String(addr.port)}`;
  const client = new BrokerClient(core, () => url);
  let closed: Promise<void> | undefined;
  return {
    url,
    host: addr.address,
    port: addr.port,
    kid: core.keys.kid,
    publicKeyPem: core.keys.publicKeyPem,
    publicKeyJwk: core.keys.publicKeyJwk,
    adminSecret: resolved.adminSecret,
    issuer: resolved.issuer,
    audience: resolved.audience === "" ? undefined : resolved.audience,
    trustDomain: resolved.trustDomain,
    stats: core.stats,
    resetStats: () => {
      core.stats.validateCalls = 0;
      core.stats.requests = 0;
    },
    adminToken: () => client.adminToken(),
    createAgent: (o) => client.createAgent(o),
    registerApp: (o) => client.registerApp(o),
    revoke: (level, target) => client.revoke(level, target),
    delegate: (token, o) => client.delegate(token, o),
    renew: (token) => client.renew(token),
    release: (token) => client.release(token),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
