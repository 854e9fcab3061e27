/**
 * The keys a guard trusts: configured static keys (matched by RFC 7638 kid) and, optionally, a
 * remote JWKS through jose (cache, cooldown for unknown kids, timeout). Local signature
 * verification goes through jose's `compactVerify` with `EdDSA` pinned.
 */
import { compactVerify, createRemoteJWKSet, customFetch, errors as joseErrors } from "jose";
import { importTrustedKey, type TrustedKey } from "./keys.js";
import { refuse } from "./refusal.js";
import type { ParsedJws } from "./jws.js";

type RemoteJwks = ReturnType<typeof createRemoteJWKSet>;

export interface KeyringOptions {
  readonly keyXs: readonly string[];
  readonly jwksUri: string | undefined;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}

export class Keyring {
  readonly #static: Promise<readonly TrustedKey[]>;
  readonly #jwks: RemoteJwks | undefined;
  #lastJwks: unknown;
  #lastFingerprint = "";
  /** Bumped whenever the trusted key set changes; cached verdicts from older generations are dropped. */
  generation = 0;

  constructor(opts: KeyringOptions) {
    this.#static = Promise.all(opts.keyXs.map(importTrustedKey));
    // Import failures surface on first use; never as an unhandled rejection.
    this.#static.catch(() => undefined);
    this.#jwks =
      opts.jwksUri === undefined
        ? undefined
        : createRemoteJWKSet(new URL(opts.jwksUri), {
            timeoutDuration: opts.timeoutMs,
            [customFetch]: opts.fetch,
          });
  }

  get hasStaticKeys(): Promise<boolean> {
    return this.#static.then((k) => k.length > 0);
  }

  /** Cheap per-request check: notices a reloaded JWKS and, when it is stale, refreshes it in the background. */
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
    if (!jwks.fresh && !jwks.reloading) jwks.reload().catch(() => undefined);
  }

  /** The static key with this kid, or the only static key when the token names none. */
  async integrityKey(kid: string | undefined): Promise<CryptoKey | undefined> {
    const keys = await this.#static;
    if (kid !== undefined) return keys.find((k) => k.kid === kid)?.cryptoKey;
    return keys.length === 1 ? keys[0]?.cryptoKey : undefined;
  }

  async #candidates(parsed: ParsedJws): Promise<CryptoKey[]> {
    const keys = await this.#static;
    if (parsed.kid !== undefined) {
      const match = keys.find((k) => k.kid === parsed.kid);
      if (match !== undefined) return [match.cryptoKey];
      if (this.#jwks === undefined) refuse("unknown_kid");
    } else if (keys.length > 0) {
      return keys.map((k) => k.cryptoKey);
    }
    return this.#fromJwks(parsed);
  }

  async #fromJwks(parsed: ParsedJws): Promise<CryptoKey[]> {
    const jwks = this.#jwks;
    if (jwks === undefined) refuse("unknown_kid");
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
      if (e instanceof joseErrors.JWKSNoMatchingKey) refuse("unknown_kid");
      refuse("jwks_unavailable", e instanceof Error ? new Error(`JWKS fetch failed: ${e.name}`) : undefined);
    }
  }

  /**
   * Verifies the token's Ed25519 signature through jose and returns the key that verified it.
   * The header was already checked (alg exactly EdDSA, no crit) by `parseCompactJws`.
   */
  async verify(token: string, parsed: ParsedJws): Promise<CryptoKey> {
    const candidates = await this.#candidates(parsed);
    for (const key of candidates) {
      try {
        await compactVerify(token, key, { algorithms: ["EdDSA"] });
        return key;
      } catch (e) {
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        if (e instanceof joseErrors.JOSEAlgNotAllowed) refuse("unsupported_alg");
        if (e instanceof joseErrors.JOSENotSupported) refuse("unsupported_crit");
        if (e instanceof joseErrors.JWSInvalid) refuse("malformed_token");
        throw e;
      }
    }
    refuse("invalid_signature");
  }
}
