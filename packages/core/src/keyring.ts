/**
 * The keys a guard trusts: configured static keys (matched by RFC 7638 kid) and, optionally, a
 * remote JWKS through jose (cache, cooldown for unknown kids, timeout). Local signature
 * verification goes through jose's `compactVerify` with `EdDSA` pinned.
 */
import { compactVerify, createRemoteJWKSet, customFetch, errors as joseErrors } from "jose";
import { readCappedText } from "./body.js";
import { importTrustedKey, type TrustedKey } from "./keys.js";
import { describeValue, Refusal, refuse } from "./refusal.js";
import { payloadFromBytes, type ParsedJws } from "./jws.js";

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

export interface KeyringOptions {
  readonly keyXs: readonly string[];
  readonly jwksUri: string | undefined;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}

export class Keyring {
  readonly #jwksUri: string | undefined;
  readonly #static: Promise<readonly TrustedKey[]>;
  /** The imported static keys once ready, so the per-token path does not wait on a promise. */
  #staticKeys: readonly TrustedKey[] | undefined;
  readonly #jwks: RemoteJwks | undefined;
  #lastJwks: unknown;
  #lastFingerprint = "";
  /** Bumped whenever the trusted key set changes; cached verdicts from older generations are dropped. */
  generation = 0;

  constructor(opts: KeyringOptions) {
    this.#jwksUri = opts.jwksUri;
    this.#static = Promise.all(opts.keyXs.map(importTrustedKey));
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
    if (kid !== undefined) return keys.find((k) => k.kid === kid)?.cryptoKey;
    return keys.length === 1 ? keys[0]?.cryptoKey : undefined;
  }

  /** The kids of the configured static keys, once imported (for `describe()` and reasons). */
  async kids(): Promise<readonly string[]> {
    const keys = this.#staticKeys ?? (await this.#static);
    return keys.map((k) => k.kid);
  }

  #kidList(): string {
    const kids = this.#staticKeys?.map((k) => k.kid) ?? [];
    const list = kids.length === 0 ? "no static keys" : `configured kids: ${kids.join(", ")}`;
    return this.#jwksUri === undefined ? list : `${list}; JWKS ${this.#jwksUri}`;
  }

  async #candidates(parsed: ParsedJws): Promise<CryptoKey[]> {
    const keys = this.#staticKeys ?? (await this.#static);
    if (parsed.kid !== undefined) {
      const match = keys.find((k) => k.kid === parsed.kid);
      if (match !== undefined) return [match.cryptoKey];
      if (this.#jwks === undefined) this.#unknownKid(parsed.kid);
    } else if (keys.length > 0) {
      return keys.map((k) => k.cryptoKey);
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
      return [key];
    } catch (e) {
      this.observe();
      if (e instanceof joseErrors.JWKSMultipleMatchingKeys) {
        const all: CryptoKey[] = [];
        for await (const k of e) all.push(k);
        return all;
      }
      if (e instanceof joseErrors.JWKSNoMatchingKey) this.#unknownKid(parsed.kid);
      const why = e instanceof Error ? `${e.name}${e instanceof joseErrors.JWKSTimeout ? "" : ": " + e.message.slice(0, 120)}` : "unknown error";
      refuse("jwks_unavailable", `GET ${this.#jwksUri ?? "(no JWKS)"} failed: ${why}`, e instanceof Error ? new Error(`JWKS fetch failed: ${e.name}`) : undefined);
    }
  }

  /**
   * Verifies the token's Ed25519 signature through jose and returns the key that verified it and
   * the verified payload object. The header was already checked (alg exactly EdDSA, no crit, a
   * canonical 64-byte signature) by `parseCompactJws`; the payload is decoded strictly here.
   */
  async verify(token: string, parsed: ParsedJws): Promise<{ readonly key: CryptoKey; readonly payload: Record<string, unknown> }> {
    const candidates = await this.#candidates(parsed);
    for (const key of candidates) {
      try {
        // The payload segment's alphabet, length and canonical tail were checked by parseCompactJws.
        const verified = await compactVerify(token, key, { algorithms: ["EdDSA"] });
        return { key, payload: payloadFromBytes(verified.payload) };
      } catch (e) {
        if (e instanceof Refusal) throw e;
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        if (e instanceof joseErrors.JOSEAlgNotAllowed) refuse("unsupported_alg");
        if (e instanceof joseErrors.JOSENotSupported) refuse("unsupported_crit");
        if (e instanceof joseErrors.JWSInvalid) refuse("malformed_token", "jose refused the token's structure");
        throw e;
      }
    }
    refuse(
      "invalid_signature",
      `the signature does not verify with ${parsed.kid === undefined ? `any trusted key (${this.#kidList()})` : `the key of kid ${describeValue(parsed.kid)}`}: forged, altered, or signed by another broker`,
    );
  }
}
