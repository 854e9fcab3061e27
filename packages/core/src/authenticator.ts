/**
 * The authentication pipeline behind a guard: token extraction, the verified-token and refusal
 * caches, local verification (single-flight per token), broker validation, and the claim and
 * delegation rules every mode applies. `Guard` adds requirements, events and errors on top.
 */
import { LRUCache } from "lru-cache";
import { extractBearer } from "./bearer.js";
import { BrokerClient } from "./broker.js";
import { checkClaimTypes, checkPolicy, checkTimes, type AgentWritClaims, type ClaimPolicy } from "./claims.js";
import { checkDelegationIntegrity, checkDelegationShape, type DelegationPolicy } from "./delegation.js";
import { encodeBase64Url, sha256 } from "./encoding.js";
import type { GuardErrorCode } from "./errors.js";
import { toIdentity, type AgentIdentity, type DecisionSource } from "./identity.js";
import { parseCompactJws } from "./jws.js";
import { Keyring } from "./keyring.js";
import type { ResolvedOptions } from "./options.js";
import { describeValue, Refusal, refuse } from "./refusal.js";
import type { Telemetry } from "./telemetry.js";

/** A verified token: its identity, until when it may be reused, and when the broker last agreed. */
interface Verified {
  /** The whole token: an entry serves only this exact text. */
  readonly token: string;
  readonly generation: number;
  /** When this entry stops being usable (ms since epoch): just past `exp` plus tolerance. */
  readonly untilMs: number;
  readonly identity: AgentIdentity;
  /** The same identity with `source: "cache"`, built on the first cache hit (most tokens never have one). */
  cachedIdentity: AgentIdentity | undefined;
  /** When the broker last said `valid:true`. */
  brokerAtMs: number | undefined;
}

/** A remembered refusal, for a token whose refusal cost signature or broker work. */
interface Denied {
  readonly generation: number;
  readonly untilMs: number;
  readonly refusal: Refusal;
}

const NEGATIVE_TTL_MS = 5 * 60_000;
/**
 * Refusals worth remembering: they depend only on the token text (and the key set) and cost
 * signature work to reach. Cheap structural refusals are not cached: recomputing them costs less
 * than a cache slot, and a flood of garbage must not fill the cache.
 */
const REMEMBERED: ReadonlySet<GuardErrorCode> = new Set<GuardErrorCode>([
  "invalid_signature", "malformed_claims", "token_expired", "issuer_mismatch", "audience_mismatch",
  "subject_not_agent", "trust_domain_mismatch", "delegation_too_deep", "delegation_widened",
  "delegation_signature_invalid", "chain_hash_mismatch", "delegator_not_allowed",
]);

const nowMs = (): number => Date.now();
const BEARER_PREFIX = "Bearer ";
/** How many of a token's last characters (its signature's) make its cache key. */
const KEY_CHARS = 16;
/**
 * The verified-token cache is keyed by a 30-bit hash (FNV-1a) of a token's last 16 characters,
 * which lie in the signature segment of any token that can be in it. An `Authorization` value
 * fresh from an HTTP parser has no cached string hash: hashing the whole token, or a slice of it,
 * was the largest single cost of a cache hit, and a small integer is hashed for free. The entry
 * holds the whole token, compared on every hit, so a key serves only its token; two tokens with
 * one key (a forger's, or by chance) only take turns in the cache. The hash of `"Bearer " +
 * token` is the token's own (same last characters), so the hot path hashes the header as is.
 */
function cacheKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = Math.max(0, s.length - KEY_CHARS); i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 2;
}
/**
 * Refusals of tokens longer than this are remembered under a SHA-256 digest rather than the token
 * itself, so that a flood of large forged tokens holds at most a few bytes per remembered entry.
 */
const DIGEST_KEYS_OVER = 1024;

/** Turns a raw `Authorization` value into a verified identity, or throws a `Refusal`. */
export class Authenticator {
  readonly #o: ResolvedOptions;
  readonly #keyring: Keyring;
  readonly #broker: BrokerClient | undefined;
  readonly #verified: LRUCache<number, Verified>;
  readonly #denied: LRUCache<string, Denied>;
  /** Local verifications in progress, by cache key (see `#local`). */
  readonly #localInFlight = new Map<number, { readonly token: string; readonly identity: Promise<AgentIdentity> }>();
  readonly #claimPolicy: ClaimPolicy;
  readonly #delegationPolicy: DelegationPolicy;
  readonly #telemetry: Telemetry | undefined;

  constructor(o: ResolvedOptions, telemetry?: Telemetry) {
    this.#o = o;
    this.#telemetry = telemetry;
    this.#keyring = new Keyring({ keyXs: o.keyXs, jwksUri: o.jwksUri, timeoutMs: o.brokerTimeoutMs, fetch: o.fetch });
    this.#broker =
      o.brokerUrl === undefined || o.mode === "local"
        ? undefined
        : new BrokerClient({
            brokerUrl: o.brokerUrl,
            timeoutMs: o.brokerTimeoutMs,
            fetch: o.fetch,
            maxResponseBytes: Math.max(65536, o.maxTokenBytes * 4),
            telemetry,
          });
    this.#verified = new LRUCache<number, Verified>({ max: o.cacheMax });
    // Refusals live apart, so that no number of bad tokens can evict a verified one.
    this.#denied = new LRUCache<string, Denied>({ max: Math.max(64, Math.ceil(o.cacheMax / 4)) });
    this.#claimPolicy = {
      clockToleranceSec: o.clockToleranceSec,
      issuer: o.issuer,
      audience: o.audience,
      trustDomain: o.trustDomain,
      allowNonAgentSubjects: o.allowNonAgentSubjects,
    };
    this.#delegationPolicy = { maxDepth: o.maxDelegationDepth, allowedDelegators: o.allowedDelegators };
  }

  clear(): void {
    this.#verified.clear();
    this.#denied.clear();
  }

  stats(): { brokerCalls: number; cacheSize: number; refusalCacheSize: number } {
    return { brokerCalls: this.#broker?.calls ?? 0, cacheSize: this.#verified.size, refusalCacheSize: this.#denied.size };
  }

  /** A usable verified entry for this token, or `undefined` (stale entries are dropped). */
  #lookup(token: string, now: number): Verified | undefined {
    const key = cacheKey(token);
    const entry = this.#verified.get(key);
    return entry?.token === token && this.#current(entry, key, now) ? entry : undefined;
  }

  /** False (and the entry dropped) when the key set changed since it was verified, or it expired. */
  #current(entry: Verified, key: number, now: number): boolean {
    if (entry.generation !== this.#keyring.generation || now >= entry.untilMs) {
      this.#verified.delete(key);
      return false;
    }
    return true;
  }

  /** Drops this token's verified entry, if it has one (an entry of another token is left alone). */
  #forget(token: string): void {
    const key = cacheKey(token);
    if (this.#verified.peek(key)?.token === token) this.#verified.delete(key);
  }

  #fresh(entry: Verified, now: number): boolean {
    return this.#o.mode === "local" || (entry.brokerAtMs !== undefined && now - entry.brokerAtMs < this.#o.maxStalenessSec * 1000);
  }

  /**
   * Hot path: a token verified before, sent as exactly "Bearer <token>", answered synchronously
   * from the cache (no parsing, no signature work, no network); `undefined` otherwise. The
   * caller counts the hit for telemetry.
   */
  hot(authorization: string | null | undefined): AgentIdentity | undefined {
    if (typeof authorization !== "string") return undefined;
    const key = cacheKey(authorization);
    const entry = this.#verified.get(key);
    // Only a token that was extracted and verified before can be found here, so a header that is
    // exactly "Bearer <that token>" needs no other check. (Its length is compared first: no work
    // proportional to a header that cannot match.)
    if (
      entry === undefined ||
      authorization.length !== entry.token.length + BEARER_PREFIX.length ||
      !authorization.startsWith(BEARER_PREFIX) ||
      authorization.slice(BEARER_PREFIX.length) !== entry.token
    ) {
      return undefined;
    }
    this.#keyring.observe();
    const now = nowMs();
    if (!this.#current(entry, key, now) || !this.#fresh(entry, now)) return undefined;
    this.#keyring.refreshIfStale();
    return (entry.cachedIdentity ??= this.#withSource(entry.identity, "cache"));
  }

  /** The refusal cache's key for a token: the token, or a digest of a long one. */
  async #deniedKey(token: string): Promise<string> {
    return token.length <= DIGEST_KEYS_OVER ? token : "#" + encodeBase64Url(await sha256(token));
  }

  /** The full pipeline: extraction, refusal cache, verified cache, then the mode's checks. */
  async authenticate(authorization: string | null | undefined): Promise<AgentIdentity> {
    const token = extractBearer(authorization, this.#o.maxTokenBytes);
    this.#keyring.observe();
    const deniedKey = this.#denied.size === 0 ? undefined : await this.#deniedKey(token);
    const now = nowMs();
    const denied = deniedKey === undefined ? undefined : this.#denied.get(deniedKey);
    if (denied !== undefined && deniedKey !== undefined) {
      if (denied.generation === this.#keyring.generation && now < denied.untilMs) throw denied.refusal;
      this.#denied.delete(deniedKey);
    }
    const entry = this.#lookup(token, now);
    if (entry !== undefined) {
      this.#keyring.refreshIfStale();
      if (this.#fresh(entry, now)) {
        this.#telemetry?.cacheLookup(true);
        return (entry.cachedIdentity ??= this.#withSource(entry.identity, "cache"));
      }
    }
    this.#telemetry?.cacheLookup(false);
    switch (this.#o.mode) {
      case "local":
        return this.#local(token);
      case "broker":
        return this.#remember(token, () => this.#verifyWithBroker(token, now));
      case "hybrid": {
        const local = entry?.identity ?? (await this.#local(token));
        await this.#remember(token, () => this.#askBroker(token, local.claims), local.claims.exp);
        if (this.#o.maxStalenessSec > 0) {
          const current = this.#verified.peek(cacheKey(token));
          if (current?.token === token) current.brokerAtMs = nowMs();
        }
        return this.#withSource(local, "broker");
      }
    }
  }

  #withSource(identity: AgentIdentity, source: DecisionSource): AgentIdentity {
    return identity.source === source ? identity : Object.freeze({ ...identity, source });
  }

  /**
   * Local verification, single-flight per token: concurrent requests share one signature check.
   * (Another token with the same cache key, which a forger or chance sends, is verified on its own.)
   */
  #local(token: string): Promise<AgentIdentity> {
    const key = cacheKey(token);
    const pending = this.#localInFlight.get(key);
    if (pending !== undefined) return pending.token === token ? pending.identity : this.#verifyLocal(token, undefined);
    const identity = this.#verifyLocal(token, key);
    this.#localInFlight.set(key, { token, identity });
    return identity;
  }

  /** Runs a step; remembers a refusal that cost real work (or a broker `valid:false`) for this token. */
  async #remember<T>(token: string, step: () => Promise<T>, exp?: number): Promise<T> {
    try {
      return await step();
    } catch (e) {
      await this.#noteRefusal(token, e, exp);
      throw e;
    }
  }

  /** Remembers a refusal that cost real work (or a broker `valid:false`) for this token. */
  async #noteRefusal(token: string, e: unknown, exp: number | undefined): Promise<void> {
    if (!(e instanceof Refusal)) return;
    const now = nowMs();
    let untilMs: number | undefined;
    if (REMEMBERED.has(e.code)) untilMs = now + NEGATIVE_TTL_MS;
    else if (e.code === "token_inactive" && exp !== undefined) {
      // A broker `valid:false` is permanent for this token string (revocations are never lifted).
      untilMs = (exp + this.#o.clockToleranceSec + 1) * 1000;
    }
    if (untilMs !== undefined && untilMs > now) {
      this.#forget(token);
      this.#denied.set(await this.#deniedKey(token), { generation: this.#keyring.generation, untilMs, refusal: e });
    }
  }

  #cachePositive(token: string, claims: AgentWritClaims, identity: AgentIdentity, brokerAtMs: number | undefined): void {
    this.#verified.set(cacheKey(token), {
      token,
      generation: this.#keyring.generation,
      untilMs: (claims.exp + this.#o.clockToleranceSec + 1) * 1000,
      identity,
      cachedIdentity: undefined,
      brokerAtMs,
    });
  }

  /** Claim rules shared by every mode, applied to verified (or broker-confirmed) claims. */
  #checkClaims(claims: AgentWritClaims, now: number): void {
    checkTimes(claims, Math.floor(now / 1000), this.#o.clockToleranceSec);
    checkPolicy(claims, this.#claimPolicy);
    checkDelegationShape(claims, this.#delegationPolicy);
  }

  /**
   * Signature, claims and delegation checks of one token, then the cache entry; a refusal that
   * cost real work is remembered. Ends the token's single flight (`#local`, under `flightKey`)
   * either way: every path below awaits before `finally`, which so runs after `#local` registered it.
   */
  async #verifyLocal(token: string, flightKey: number | undefined): Promise<AgentIdentity> {
    try {
      const parsed = parseCompactJws(token, false);
      const { key, payload } = await this.#keyring.verify(parsed);
      const claims = checkClaimTypes(payload);
      this.#checkClaims(claims, nowMs());
      if (claims.delegation_chain !== undefined) await checkDelegationIntegrity(claims, key);
      const identity = toIdentity(claims, "local");
      this.#cachePositive(token, claims, identity, undefined);
      return identity;
    } catch (e) {
      await this.#noteRefusal(token, e, undefined);
      throw e;
    } finally {
      if (flightKey !== undefined) this.#localInFlight.delete(flightKey);
    }
  }

  async #verifyWithBroker(token: string, now: number): Promise<AgentIdentity> {
    const parsed = parseCompactJws(token, true);
    // The token's own (unverified) claims: anything these fail, the broker's would fail too.
    const presented = checkClaimTypes(parsed.payload ?? {});
    this.#checkClaims(presented, now);
    const claims = await this.#remember(token, () => this.#askBroker(token, presented), presented.exp);
    this.#checkClaims(claims, nowMs());
    if (claims.delegation_chain !== undefined) {
      const key = await this.#keyring.integrityKey(parsed.kid);
      if (key !== undefined) await checkDelegationIntegrity(claims, key);
    }
    const identity = toIdentity(claims, "broker");
    if (this.#o.maxStalenessSec > 0) this.#cachePositive(token, claims, identity, nowMs());
    return identity;
  }

  /** Asks the broker and checks that its claims are about this very token. */
  async #askBroker(token: string, presented: AgentWritClaims): Promise<AgentWritClaims> {
    const broker = this.#broker;
    if (broker === undefined) refuse("internal_error", "no broker client in this mode");
    const verdict = await broker.validate(token);
    if (!verdict.valid) {
      if (verdict.rejected) {
        refuse("broker_rejected", `the broker refused the validate request with HTTP ${String(verdict.status)} (a token it cannot parse or too large for it)`);
      }
      refuse("token_inactive", "the broker answered valid:false: the token was released, revoked, renewed, or is unknown to this broker");
    }
    let claims: AgentWritClaims;
    try {
      claims = checkClaimTypes(verdict.claims);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      refuse("broker_unavailable", `the broker answered valid:true with claims that do not type-check (${e.reason ?? e.code})`, new Error("broker returned malformed claims"));
    }
    if (claims.jti !== presented.jti || claims.sub !== presented.sub) {
      refuse("broker_claims_mismatch", `the broker answered with claims for jti ${describeValue(claims.jti)}, but the token's jti is ${describeValue(presented.jti)}: is a proxy or cache in front of the broker?`);
    }
    return claims;
  }
}
