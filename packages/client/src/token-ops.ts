/**
 * What any holder of a token can ask the broker (Bearer routes 6–8 of Part B.3), as module-level
 * functions over a token string: renew, release, delegate. `Agent` uses them; so can code that
 * holds a delegated token rather than an `Agent`.
 */
import type { DelegationRecord } from "@agentwrit/guard";
import { AgentWritError } from "./errors.js";
import { BrokerConnection, intField, objectBody, stringField, type BrokerOptions } from "./http.js";
import { decodeBase64Url } from "./crypto.js";

/** What a token says about itself (read, not verified: it came from the broker over our own request). */
export interface TokenFacts {
  readonly sub: string;
  readonly scope: readonly string[];
}

/** The `sub` and `scope` claims of a token the broker just issued. */
export function readTokenFacts(token: string, path: string): TokenFacts {
  const payload = token.split(".")[1];
  const bytes = payload === undefined ? null : decodeBase64Url(payload);
  let claims: unknown;
  try {
    claims = bytes === null ? undefined : JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    claims = undefined;
  }
  const c = claims as { sub?: unknown; scope?: unknown } | undefined;
  if (typeof c !== "object" || typeof c.sub !== "string" || !Array.isArray(c.scope) || !c.scope.every((s) => typeof s === "string")) {
    throw new AgentWritError(`the token the broker issued on ${path} has no readable sub and scope claims`);
  }
  return { sub: c.sub, scope: Object.freeze([...(c.scope)]) };
}

/** A token and its lifetime as the broker reported it. */
export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
  /** Computed locally when the answer arrived (`now + expiresIn`), as the Python SDK does. */
  readonly expiresAt: Date;
}

const RENEW = "/v1/token/renew";
const RELEASE = "/v1/token/release";
const DELEGATE = "/v1/delegate";

export async function renewWith(conn: BrokerConnection, token: string): Promise<IssuedToken> {
  const answer = objectBody(await conn.call("POST", RENEW, { token }), RENEW);
  const expiresIn = intField(answer, "expires_in", RENEW);
  return { accessToken: stringField(answer, "access_token", RENEW), expiresIn, expiresAt: new Date(Date.now() + expiresIn * 1000) };
}

export async function releaseWith(conn: BrokerConnection, token: string): Promise<void> {
  await conn.call("POST", RELEASE, { token });
}

/** What to delegate: to whom (a registered agent's SPIFFE ID), which scope, for how long. */
export interface DelegateOptions {
  readonly to: string;
  readonly scope: readonly string[];
  /** Seconds; the broker's default is 60. Not limited by the delegator's remaining life. */
  readonly ttl?: number;
}

/** A delegated token (`POST /v1/delegate`). The token itself is reachable only through `accessToken`. */
export class DelegatedToken {
  readonly #token: string;
  /** The delegate's SPIFFE ID (the token's `sub`). */
  readonly agentId: string;
  readonly expiresIn: number;
  readonly expiresAt: Date;
  /** The scope the broker granted (the token's `scope` claim). */
  readonly scope: readonly string[];
  /** The chain as the broker returned it, signatures included (the Python SDK drops them). */
  readonly delegationChain: readonly DelegationRecord[];

  constructor(issued: IssuedToken, chain: readonly DelegationRecord[]) {
    this.#token = issued.accessToken;
    const facts = readTokenFacts(issued.accessToken, DELEGATE);
    this.agentId = facts.sub;
    this.scope = facts.scope;
    this.expiresIn = issued.expiresIn;
    this.expiresAt = issued.expiresAt;
    this.delegationChain = chain;
  }

  get accessToken(): string {
    return this.#token;
  }

  /** `{ Authorization: "Bearer <token>" }`. */
  get bearerHeader(): { readonly Authorization: string } {
    return { Authorization: `Bearer ${this.#token}` };
  }

  /** Everything but the token. */
  toJSON(): Record<string, unknown> {
    return { agentId: this.agentId, expiresIn: this.expiresIn, expiresAt: this.expiresAt, scope: this.scope, delegationChain: this.delegationChain };
  }
}

function delegationRecord(v: unknown): DelegationRecord {
  const r = v as Partial<Record<keyof DelegationRecord, unknown>> | null;
  if (
    typeof r !== "object" || r === null || typeof r.agent !== "string" || typeof r.delegated_at !== "string" ||
    !Array.isArray(r.scope) || !r.scope.every((s) => typeof s === "string") || (r.signature !== undefined && typeof r.signature !== "string")
  ) {
    throw new AgentWritError(`the broker's answer on ${DELEGATE} has a malformed delegation_chain`);
  }
  const base = { agent: r.agent, scope: r.scope, delegated_at: r.delegated_at };
  return typeof r.signature === "string" ? { ...base, signature: r.signature } : base;
}

export async function delegateWith(conn: BrokerConnection, token: string, options: DelegateOptions): Promise<DelegatedToken> {
  const body: Record<string, unknown> = { delegate_to: options.to, scope: options.scope };
  if (options.ttl !== undefined) body.ttl = options.ttl;
  const answer = objectBody(await conn.call("POST", DELEGATE, { token, body }), DELEGATE);
  const expiresIn = intField(answer, "expires_in", DELEGATE);
  const chain = answer.delegation_chain;
  if (!Array.isArray(chain)) throw new AgentWritError(`the broker's answer on ${DELEGATE} has no delegation_chain`);
  return new DelegatedToken(
    { accessToken: stringField(answer, "access_token", DELEGATE), expiresIn, expiresAt: new Date(Date.now() + expiresIn * 1000) },
    Object.freeze(chain.map(delegationRecord)),
  );
}

/** `POST /v1/token/renew` with `token`: a new token (same sub, scope and TTL); the old one is revoked. */
export function renewToken(brokerUrl: string, token: string, options?: BrokerOptions): Promise<IssuedToken> {
  return renewWith(new BrokerConnection(brokerUrl, options), token);
}

/** `POST /v1/token/release` with `token`: the broker revokes it (204). */
export function releaseToken(brokerUrl: string, token: string, options?: BrokerOptions): Promise<void> {
  return releaseWith(new BrokerConnection(brokerUrl, options), token);
}

/** `POST /v1/delegate` with `token` as the delegator. */
export function delegateToken(brokerUrl: string, token: string, delegation: DelegateOptions, options?: BrokerOptions): Promise<DelegatedToken> {
  return delegateWith(new BrokerConnection(brokerUrl, options), token, delegation);
}
