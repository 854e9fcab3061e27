/** Per-key token buckets (`internal/authz/rate_mw.go`); buckets are never pruned, as in the broker. */

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param ratePerSecond refill rate
   * @param burst bucket size; a key's first request leaves `burst - 1` tokens
   * @param retryAfter seconds announced in `Retry-After` on refusal
   * @param clockMs the broker clock, in milliseconds
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    readonly retryAfter: number,
    private readonly clockMs: () => number,
  ) {}

  /** Takes one token for `key`; false when less than one is left. */
  allow(key: string): boolean {
    const now = this.clockMs();
    const b = this.buckets.get(key);
    if (b === undefined) {
      this.buckets.set(key, { tokens: this.burst - 1, last: now });
      return true;
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.ratePerSecond);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
