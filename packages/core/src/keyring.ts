/**
 * The keys a guard trusts: configured static keys (matched by RFC 7638 kid) and, optionally, a
 * remote JWKS through jose (cache, cooldown for unknown kids, timeout). jose imports every key;
 * the signature of a token parsed by `parseCompactJws` (which pinned `alg` to EdDSA, refused
 * `crit` and checked every segment) is verified here over the bytes that parse already checked,
 * through `#runtime` (node:crypto on Node, Web Crypto elsewhere), without decoding it again.
 */
import { verifyJwsSignature } from "#runtime";
import { createRemoteJWKSet, customFetch, errors as joseErrors } from "jose";
import { readCappedText } from "./body.js";
import { importTrustedKey, type TrustedKey } from "./keys.js";
import { describeValue, refuse } from "./refusal.js";
import { headerVerified, payloadFromSegment, type ParsedJws } from "./jws.js";

type RemoteJwks = ReturnType<typeof createRemoteJWKSet>;

/** Largest JWKS body read; a real key set is a few hundred bytes per key. */
const MAX_JWKS_BYTES = 256 * 1024;

/**
 * `fetch` for jose's JWKS loader with a bounded body read: jose reads the whole body with
 * `response.json()`, so a huge (or endless but fast) answer would otherwise be buffered whole
 * within the timeout. Past the cap the read is cancelled and the fetch fails (a 503).
 */
function cappedFetch(f: typeof fetch, max: number): typeof fetch {
  return async (input, init) => {
    const res = await f(input, init);
    if (res.status !== 200) {
      // jose refuses any status but 200 without reading the body.
      await res.body?.cancel().catch(() => undefined);
      return res;
    }
    const text = await readCappedText(res.body, max);
    if (text === undefined) throw new Error("JWKS response too large");
    return new Response(text, { status: 200, headers: res.headers });
  };
}

/** The imported static keys, indexed for the per-token lookup. */
interface StaticKeys {
  readonly list: readonly TrustedKey[];
  /** The key of each kid (the first configured one when two share a kid). */
  readonly byKid: ReadonlyMap<string, readonly [CryptoKey]>;
  readonly all: readonly CryptoKey[];
}

function indexKeys(list: readonly TrustedKey[]): StaticKeys {
  const all = list.map((k) => usable(k.cryptoKey));
  const byKid = new Map<string, readonly [CryptoKey]>();
  list.forEach((k, i) => {
    if (!byKid.has(k.kid)) byKid.set(k.kid, [all[i] ?? k.cryptoKey]);
  });
  return { list, byKid, all };
}

/**
 * A key jose imported for `EdDSA` is an Ed25519 public key allowed to verify; anything else is
 * the guard's own fault (500), never a token's.
 */
function usable(key: CryptoKey): CryptoKey {
  if (key.type !== "public" || key.algorithm.name !== "Ed25519" || !key.usages.includes("verify")) {
    throw new TypeError(`a trusted key is not an Ed25519 public verification key (${key.type} ${key.algorithm.name})`);
  }
  return key;
}

export interface KeyringOptions {
  readonly keyXs: readonly string[];
  readonly jwksUri: string | undefined;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}

export class Keyring {
  readonly #jwksUri: string | undefined;
  readonly #static: Promise<StaticKeys>;
  /** The imported static keys once ready, so the per-token path does not wait on a promise. */
  #staticKeys: StaticKeys | undefined;
  readonly #jwks: RemoteJwks | undefined;
  #lastJwks: unknown;
  #lastFingerprint = "";
  /** Bumped whenever the trusted key set changes; cached verdicts from older generations are dropped. */
  generation = 0;

  constructor(opts: KeyringOptions) {
    this.#jwksUri = opts.jwksUri;
    this.#static = Promise.all(opts.keyXs.map(importTrustedKey)).then(indexKeys);
    this.#static.then((keys) => (this.#staticKeys = keys), () => undefined);
    // Import failures surface on first use; never as an unhandled rejection.
    this.#static.catch(() => undefined);
    this.#jwks =
      opts.jwksUri === undefined
        ? undefined
        : createRemoteJWKSet(new URL(opts.jwksUri), {
            timeoutDuration: opts.timeoutMs,
            [customFetch]: cappedFetch(opts.fetch, MAX_JWKS_BYTES),
          });
  }

  /** Cheap per-request check: notices a reloaded JWKS (bumping `generation` when its keys changed). */
  observe(): void {
    const jwks = this.#jwks;
    if (jwks === undefined) return;
    const current = jwks.jwks();
    if (current !== this.#lastJwks) {
      this.#lastJwks = current;
      const fp = JSON.stringify(current?.keys.map((k) => [k.kid, k.x]) ?? []);
      if (fp !== this.#lastFingerprint) {
        if (this.#lastFingerprint !== "") this.generation++;
        this.#lastFingerprint = fp;
      }
    }
  }

  /**
   * On a cache hit no key is looked up, so a stale JWKS would never reload: refresh it in the
   * background. Called only for tokens that already verified, so garbage cannot drive fetches.
   */
  refreshIfStale(): void {
    const jwks = this.#jwks;
    if (jwks !== undefined && !jwks.fresh && !jwks.reloading) jwks.reload().catch(() => undefined);
  }

  /** The static key with this kid, or the only static key when the token names none. */
  async integrityKey(kid: string | undefined): Promise<CryptoKey | undefined> {
    const keys = this.#staticKeys ?? (await this.#static);
    if (kid !== undefined) return keys.byKid.get(kid)?.[0];
    return keys.all.length === 1 ? keys.all[0] : undefined;
  }

  /** The kids of the configured static keys, once imported (for `describe()` and reasons). */
  async kids(): Promise<readonly string[]> {
    const keys = this.#staticKeys ?? (await this.#static);
    return keys.list.map((k) => k.kid);
  }

  #kidList(): string {
    const kids = this.#staticKeys?.list.map((k) => k.kid) ?? [];
    const list = kids.length === 0 ? "no static keys" : `configured kids: ${kids.join(", ")}`;
    return this.#jwksUri === undefined ? list : `${list}; JWKS ${this.#jwksUri}`;
  }

  /**
   * The keys to try, in order: the static key named by the token's kid (or every static key when
   * it names none), else the JWKS. Synchronous once the static keys are imported.
   */
  #candidates(parsed: ParsedJws): readonly CryptoKey[] | Promise<readonly CryptoKey[]> {
    const keys = this.#staticKeys;
    if (keys === undefined) return this.#static.then(() => this.#candidates(parsed));
    if (parsed.kid !== undefined) {
      const match = keys.byKid.get(parsed.kid);
      if (match !== undefined) return match;
      if (this.#jwks === undefined) this.#unknownKid(parsed.kid);
    } else if (keys.all.length > 0) {
      return keys.all;
    }
    return this.#fromJwks(parsed);
  }

  #unknownKid(kid: string | undefined): never {
    refuse("unknown_kid", `the token's kid ${describeValue(kid)} matches no trusted key (${this.#kidList()}); is publicKey the key of the broker that issued it?`);
  }

  async #fromJwks(parsed: ParsedJws): Promise<CryptoKey[]> {
    const jwks = this.#jwks;
    if (jwks === undefined) this.#unknownKid(parsed.kid);
    const header = parsed.kid === undefined ? { alg: "EdDSA" } : { alg: "EdDSA", kid: parsed.kid };
    try {
      const key = await jwks(header);
      this.observe();
      return [usable(key)];
    } catch (e) {
      this.observe();
      if (e instanceof joseErrors.JWKSMultipleMatchingKeys) {
        const all: CryptoKey[] = [];
        for await (const k of e) all.push(usable(k));
        return all;
      }
      if (e instanceof joseErrors.JWKSNoMatchingKey) this.#unknownKid(parsed.kid);
      const why = e instanceof Error ? `${e.name}${e instanceof joseErrors.JWKSTimeout ? "" : ": " + e.message.slice(0, 120)}` : "unknown error";
      refuse("jwks_unavailable", `GET ${this.#jwksUri ?? "(no JWKS)"} failed: ${why}`, e instanceof Error ? new Error(`JWKS fetch failed: ${e.name}`) : undefined);
    }
  }

  /**
   * Verifies the token's Ed25519 signature over its signing input and returns the key that
   * verified it and the payload object, decoded only now (strictly, see `payloadFromSegment`).
   * `parseCompactJws` already pinned `alg` to EdDSA, refused `crit` (so `b64` is always true), and
   * checked that the payload segment is canonical base64url and the signature segment canonical
   * base64url of 64 bytes: what jose's `compactVerify` would otherwise check, and more.
   */
  verify(parsed: ParsedJws): Promise<{ readonly key: CryptoKey; readonly payload: Record<string, unknown> }> {
    const found = this.#candidates(parsed);
    // The common case, one known key: one promise, no async frame.
    if (!(found instanceof Promise) && found.length === 1 && found[0] !== undefined) {
      const key = found[0];
      return verifyJwsSignature(key, parsed.signingInput, parsed.signatureSegment).then((ok) => (ok ? this.#verified(parsed, key) : this.#forged(parsed)));
    }
    return this.#verifyWithAny(parsed, found);
  }

  async #verifyWithAny(
    parsed: ParsedJws,
    found: readonly CryptoKey[] | Promise<readonly CryptoKey[]>,
  ): Promise<{ readonly key: CryptoKey; readonly payload: Record<string, unknown> }> {
    for (const key of found instanceof Promise ? await found : found) {
      if (await verifyJwsSignature(key, parsed.signingInput, parsed.signatureSegment)) return this.#verified(parsed, key);
    }
    return this.#forged(parsed);
  }

  /** The signature verified with `key`: the header is known good, the payload is read now. */
  #verified(parsed: ParsedJws, key: CryptoKey): { readonly key: CryptoKey; readonly payload: Record<string, unknown> } {
    headerVerified(parsed);
    return { key, payload: payloadFromSegment(parsed.payloadSegment) };
  }

  #forged(parsed: ParsedJws): never {
    refuse(
      "invalid_signature",
      `the signature does not verify with ${parsed.kid === undefined ? `any trusted key (${this.#kidList()})` : `the key of kid ${describeValue(parsed.kid)}`}: forged, altered, or signed by another broker`,
    );
  }
}
