/**
 * A live token: the current text, its lifetime, single-flight renewal, release. An `Agent` holds
 * one for its own token; step-up grants hold one each.
 */
import { AgentWritError } from "./errors.js";
import type { BrokerConnection } from "./http.js";
import { releaseWith, renewWith, type IssuedToken } from "./token-ops.js";

/** Renew this long before expiry unless told otherwise: a quarter of the lifetime, at most 30 s. */
export function defaultRenewBefore(expiresIn: number): number {
  return Math.min(30, Math.floor(expiresIn / 4));
}

export class LiveToken {
  #token: string;
  #expiresIn: number;
  #expiresAt: Date;
  #released = false;
  #renewing: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;

  constructor(
    private readonly conn: BrokerConnection,
    issued: IssuedToken,
    /** Seconds before expiry at which `ensureFresh` renews; `undefined`: {@link defaultRenewBefore}. */
    private readonly renewBefore: number | undefined,
    /** What the agent calls itself in "… has been released and cannot …". */
    private readonly what: string,
  ) {
    this.#token = issued.accessToken;
    this.#expiresIn = issued.expiresIn;
    this.#expiresAt = issued.expiresAt;
  }

  get token(): string {
    return this.#token;
  }
  get expiresIn(): number {
    return this.#expiresIn;
  }
  get expiresAt(): Date {
    return this.#expiresAt;
  }
  get released(): boolean {
    return this.#released;
  }

  /** `POST /v1/token/renew`; concurrent callers share one request. */
  renew(): Promise<void> {
    if (this.#released) return Promise.reject(new AgentWritError(`${this.what} has been released and cannot be renewed`));
    this.#renewing ??= renewWith(this.conn, this.#token)
      .then((next) => {
        this.#token = next.accessToken;
        this.#expiresIn = next.expiresIn;
        this.#expiresAt = next.expiresAt;
      })
      .finally(() => {
        this.#renewing = undefined;
      });
    return this.#renewing;
  }

  /** Renews when the token is within its renewal window (never once released). */
  async ensureFresh(): Promise<void> {
    if (this.#released) return;
    const before = this.renewBefore ?? defaultRenewBefore(this.#expiresIn);
    if (this.#expiresAt.getTime() - Date.now() <= before * 1000) await this.renew();
  }

  /**
   * After a resource server refused `sent` as `invalid_token`: true when there is another token
   * to retry with (renewed now, or already renewed by a concurrent request); false once released.
   */
  async renewAfterRefusal(sent: string): Promise<boolean> {
    if (this.#released) return false;
    if (this.#token !== sent) return true;
    await this.renew();
    return this.#token !== sent;
  }

  /**
   * `POST /v1/token/release`, once; a later call is a local no-op (as in the Python SDK) and
   * concurrent calls share one request. On failure the token is not marked released.
   */
  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#releasing ??= (async () => {
      if (this.#renewing !== undefined) await this.#renewing.catch(() => undefined);
      await releaseWith(this.conn, this.#token);
      this.#released = true;
    })().finally(() => {
      this.#releasing = undefined;
    });
    return this.#releasing;
  }

  /** Marks the token released without asking the broker (it already refused the token). */
  markReleased(): void {
    this.#released = true;
  }
}
