/** Options of `startDevBroker`, their defaults and validation. */
import { randomBytes } from "node:crypto";
import type { NowFn, RandomHexFn } from "./clock.js";

/**
 * A write path of the real broker's SQLite store that fails under concurrent writes
 * (SQLITE_BUSY): `POST /v1/app/auth`, `POST /v1/app/launch-tokens` (its app lookup) and
 * `POST /v1/admin/apps`.
 */
export type BusyOperation = "app_auth" | "app_launch_token" | "app_register";

/** Options of {@link startDevBroker}. Every field is optional. */
export interface DevBrokerOptions {
  /** TCP port; default 0 (an ephemeral port). */
  readonly port?: number;
  /** Bind address; default `127.0.0.1`. Only loopback addresses are accepted. */
  readonly host?: string;
  /** Admin secret for `POST /v1/admin/auth`; default: 32 random bytes as hex. */
  readonly adminSecret?: string;
  /** `AA_ISSUER`: the `iss` claim, checked on verification when non-empty. Default `""`. */
  readonly issuer?: string;
  /** `AA_AUDIENCE`: issued as `aud: [audience]`, checked only on the broker's Bearer routes. Default: none. */
  readonly audience?: string;
  /** `AA_TRUST_DOMAIN`; default `agentwrit.local`. */
  readonly trustDomain?: string;
  /** `AA_MAX_TTL` in seconds; default 86400; 0 or less disables the cap. */
  readonly maxTtl?: number;
  /** `AA_DEFAULT_TTL` in seconds (fallback only); default 300. */
  readonly defaultTtl?: number;
  /** `AA_ADMIN_TOKEN_TTL` in seconds; default 300. */
  readonly adminTokenTtl?: number;
  /** `AA_APP_TOKEN_TTL` in seconds (default per-app TTL); default 1800. */
  readonly appTokenTtl?: number;
  /** Ed25519 signing key as PEM PKCS#8 `PRIVATE KEY`; default: a fresh key. */
  readonly signingKey?: string;
  /**
   * Testing hook: the current time in nanoseconds since the Unix epoch. `use` is
   * `"delegated_at"` for delegation-record timestamps and `"now"` for everything else, so a
   * test can pin both. Default: the system clock.
   */
  readonly now?: NowFn;
  /**
   * Testing hook: return lowercase hex (2 × `bytes` characters) to force a random value of the
   * given kind, or `undefined` for a real random value.
   */
  readonly randomHex?: RandomHexFn;
  /**
   * Testing hook: return `true` to make this request fail as the real broker does when its
   * SQLite store is busy under concurrent writes (protocol Appendix 3): `app_auth` → 500
   * `internal_error` "authentication error"; `app_launch_token` → 403 `forbidden` "app not
   * found"; `app_register` → 500 `internal_error` "failed to register app". Lets a client's
   * retry logic be tested. Default: never busy.
   */
  readonly busy?: (operation: BusyOperation) => boolean;
}

/** Options after defaults. */
export interface ResolvedOptions {
  readonly port: number;
  readonly host: string;
  readonly adminSecret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly trustDomain: string;
  readonly maxTtl: number;
  readonly defaultTtl: number;
  readonly adminTokenTtl: number;
  readonly appTokenTtl: number;
  readonly signingKey: string | undefined;
  readonly now: NowFn | undefined;
  readonly randomHex: RandomHexFn | undefined;
  readonly busy: (operation: BusyOperation) => boolean;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function int(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer`);
  return v;
}

/** Applies defaults and rejects unusable values. */
export function resolveOptions(o: DevBrokerOptions = {}): ResolvedOptions {
  const host = o.host ?? "127.0.0.1";
  if (!LOOPBACK.has(host) && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
    throw new TypeError(`host must be a loopback address (the dev broker is not a production broker), got ${host}`);
  }
  const port = int("port", o.port, 0);
  if (port < 0 || port > 65535) throw new TypeError("port must be between 0 and 65535");
  const adminSecret = o.adminSecret ?? randomBytes(32).toString("hex");
  if (adminSecret === "") throw new TypeError("adminSecret must not be empty");
  return {
    port,
    host,
    adminSecret,
    issuer: o.issuer ?? "",
    audience: o.audience ?? "",
    trustDomain: o.trustDomain ?? "agentwrit.local",
    maxTtl: int("maxTtl", o.maxTtl, 86400),
    defaultTtl: int("defaultTtl", o.defaultTtl, 300),
    adminTokenTtl: int("adminTokenTtl", o.adminTokenTtl, 300),
    appTokenTtl: int("appTokenTtl", o.appTokenTtl, 1800),
    signingKey: o.signingKey,
    now: o.now,
    randomHex: o.randomHex,
    busy: o.busy ?? (() => false),
  };
}
