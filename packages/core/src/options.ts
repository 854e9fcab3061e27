/**
 * Guard options, their defaults, and eager validation (a `TypeError` for bad configuration).
 */
import type { AllowedDelegators } from "./delegation.js";
import { DEFAULT_MAX_CHALLENGE_SCOPES, type GuardErrorCode } from "./errors.js";
import type { DecisionSource } from "./identity.js";
import { publicKeyToX, type PublicKeyInput } from "./keys.js";
import { isGuardLogger, type GuardLogger } from "./log.js";
import { DEFAULT_MAX_PARAM_LENGTH } from "./requirement.js";
import { isOpenTelemetryApi, type TelemetryOptions } from "./telemetry.js";

/** How tokens are checked. */
export type GuardMode = "local" | "broker" | "hybrid";

/** One event per decision (an authentication, or a scope check), for logs and metrics. */
export interface DecisionEvent {
  readonly outcome: "allow" | "deny";
  /** `authorize` when a requirement was evaluated (alone, or inside `verify`), else `authenticate`. */
  readonly phase: "authenticate" | "authorize";
  readonly code: GuardErrorCode | undefined;
  readonly status: number | undefined;
  /** For a denial: why, for operators, in one token-free sentence (never sent to the client). */
  readonly reason: string | undefined;
  /** The route or tool the adapter named (e.g. `GET /customers/:id`), when it named one. */
  readonly route: string | undefined;
  readonly mode: GuardMode;
  readonly agentId: string | undefined;
  readonly jti: string | undefined;
  readonly source: DecisionSource | undefined;
  readonly required: readonly string[] | undefined;
  readonly missing: readonly string[] | undefined;
  readonly delegationDepth: number | undefined;
  readonly durationMs: number;
}

export interface GuardOptions {
  /** Broker base URL, e.g. `http://127.0.0.1:8080`; enables `broker` and `hybrid` modes. */
  readonly brokerUrl?: string | undefined;
  /** The broker's Ed25519 public key(s): PEM SPKI, JWK, or raw 32 bytes in base64; a list for rotation. */
  readonly publicKey?: PublicKeyInput | readonly PublicKeyInput[] | undefined;
  /** A JWKS URL (EdDSA keys are used); the real broker serves none, a gateway may. */
  readonly jwksUri?: string | undefined;
  /** @default "hybrid" when a key and a broker are both given, else whichever is given */
  readonly mode?: GuardMode | undefined;
  /** Required `iss`. The broker writes `""` unless `AA_ISSUER` is set. */
  readonly issuer?: string | undefined;
  /** Accepted audience(s); the token's `aud` array must contain one. */
  readonly audience?: string | readonly string[] | undefined;
  /** Accepted SPIFFE trust domain of agent subjects. @default any */
  readonly trustDomain?: string | undefined;
  /** Accept admin (`admin`) and app (`app:<id>`) subjects. @default false */
  readonly allowNonAgentSubjects?: boolean | undefined;
  /** Leeway for `exp` and `nbf`, in seconds. @default 5 */
  readonly clockToleranceSec?: number | undefined;
  /** Longest accepted `delegation_chain`. @default 5 (the broker's own limit) */
  readonly maxDelegationDepth?: number | undefined;
  /** Delegators allowed anywhere in a chain: exact subjects, `prefix*` patterns, or a predicate. */
  readonly allowedDelegators?: AllowedDelegators | undefined;
  /** How long a broker `valid:true` may be reused, in seconds; 0 asks on every request. @default 0 */
  readonly maxStalenessSec?: number | undefined;
  /** Timeout for each broker (and JWKS) request. @default 2000 */
  readonly brokerTimeoutMs?: number | undefined;
  readonly cache?: { readonly max?: number | undefined } | undefined;
  /**
   * Largest accepted token, checked before any parsing. @default 16384 (Node's header limit: the
   * broker has no limit on scope count, and a 250-scope token is about 9.8 KB)
   */
  readonly maxTokenBytes?: number | undefined;
  /** `realm` of every challenge. */
  readonly realm?: string | undefined;
  /** RFC 9728 protected-resource metadata URL, sent as `resource_metadata` in challenges. */
  readonly resourceMetadataUrl?: string | undefined;
  /**
   * Where the guard logs (console- or pino-shaped: `debug`, `info`, `warn`, `error`, object first).
   * Refusals at `debug` with code and reason; broker and configuration trouble at `warn`/`error`;
   * the configuration once at `info`. Rate-limited; never a token.
   */
  readonly logger?: GuardLogger | undefined;
  /** Longest value bound into a requirement placeholder (400 `invalid_parameter` beyond). @default 256 */
  readonly maxParamLength?: number | undefined;
  /** Most missing scopes a 403 challenge names (it also stays under 4 KiB). @default 16 */
  readonly maxChallengeScopes?: number | undefined;
  /** Called once per decision; must not throw (errors are swallowed). */
  readonly onDecision?: ((event: DecisionEvent) => unknown) | undefined;
  /** `fetch` used for the broker and JWKS. @default globalThis.fetch */
  readonly fetch?: typeof fetch | undefined;
  /**
   * OpenTelemetry metrics and spans through `@opentelemetry/api` (an optional peer dependency),
   * found by a dynamic import when the guard is created; a no-op without it. `false` turns it off;
   * `{ api }` passes the API where it cannot be imported (some bundles). @default true
   */
  readonly telemetry?: boolean | TelemetryOptions | undefined;
}

export interface ResolvedOptions {
  readonly mode: GuardMode;
  readonly brokerUrl: string | undefined;
  readonly keyXs: readonly string[];
  readonly jwksUri: string | undefined;
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly trustDomain: string | undefined;
  readonly allowNonAgentSubjects: boolean;
  readonly clockToleranceSec: number;
  readonly maxDelegationDepth: number;
  readonly allowedDelegators: AllowedDelegators | undefined;
  readonly maxStalenessSec: number;
  readonly brokerTimeoutMs: number;
  readonly cacheMax: number;
  readonly maxTokenBytes: number;
  readonly realm: string | undefined;
  readonly resourceMetadataUrl: string | undefined;
  readonly onDecision: ((event: DecisionEvent) => unknown) | undefined;
  readonly fetch: typeof fetch;
  readonly logger: GuardLogger | undefined;
  readonly maxParamLength: number;
  readonly maxChallengeScopes: number;
  /** `false`: off; otherwise how to find the API. */
  readonly telemetry: false | TelemetryOptions;
}

const KNOWN = new Set([
  "brokerUrl", "publicKey", "jwksUri", "mode", "issuer", "audience", "trustDomain", "allowNonAgentSubjects",
  "clockToleranceSec", "maxDelegationDepth", "allowedDelegators", "maxStalenessSec", "brokerTimeoutMs", "cache",
  "maxTokenBytes", "realm", "resourceMetadataUrl", "onDecision", "fetch", "logger", "maxParamLength", "maxChallengeScopes",
  "telemetry",
]);

function httpUrl(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${name} must be a non-empty URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`${name} must be an http(s) URL`);
  if (url.username !== "" || url.password !== "") throw new TypeError(`${name} must not carry credentials`);
  if (url.search !== "" || url.hash !== "") throw new TypeError(`${name} must not have a query or fragment`);
  return value.replace(/\/+$/, "");
}

function int(value: unknown, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function optString(value: unknown, name: string, allowEmpty: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || (!allowEmpty && value === "")) throw new TypeError(`${name} must be a${allowEmpty ? "" : " non-empty"} string`);
  return value;
}

function telemetryOption(value: unknown): false | TelemetryOptions {
  if (value === undefined || value === true) return {};
  if (value === false) return false;
  if (typeof value !== "object" || value === null) throw new TypeError("telemetry must be a boolean or { api }");
  for (const key of Object.keys(value)) {
    if (key !== "api") throw new TypeError(`telemetry: unknown option "${key}" (only api)`);
  }
  const api = (value as TelemetryOptions).api;
  if (api !== undefined && !isOpenTelemetryApi(api)) {
    throw new TypeError('telemetry.api must be @opentelemetry/api (import * as api from "@opentelemetry/api")');
  }
  return api === undefined ? {} : { api };
}

/** Validates options and applies defaults. Throws `TypeError` on any misconfiguration. */
export function resolveOptions(options: GuardOptions): ResolvedOptions {
  if (typeof options !== "object" || (options as unknown) === null) throw new TypeError("createGuard(options): options must be an object");
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`createGuard: unknown option "${key}"`);
  }
  if (options.logger !== undefined && !isGuardLogger(options.logger)) {
    throw new TypeError("logger must have debug, info, warn and error methods (console, pino, a Fastify logger…)");
  }
  const brokerUrl = options.brokerUrl === undefined ? undefined : httpUrl(options.brokerUrl, "brokerUrl");
  const jwksUri = options.jwksUri === undefined ? undefined : httpUrl(options.jwksUri, "jwksUri");
  const keyInputs = options.publicKey === undefined ? [] : Array.isArray(options.publicKey) ? options.publicKey : [options.publicKey];
  if (options.publicKey !== undefined && keyInputs.length === 0) throw new TypeError("publicKey: the list is empty");
  const keyXs = [...new Set(keyInputs.map((k, i) => publicKeyToX(k, keyInputs.length > 1 ? `publicKey[${i}]` : "publicKey")))];
  const hasKeys = keyXs.length > 0 || jwksUri !== undefined;

  let mode: GuardMode;
  if (options.mode === undefined) {
    if (hasKeys && brokerUrl !== undefined) mode = "hybrid";
    else if (hasKeys) mode = "local";
    else if (brokerUrl !== undefined) mode = "broker";
    else throw new TypeError("createGuard: configure publicKey (or jwksUri) for local verification and/or brokerUrl for broker validation");
  } else {
    mode = options.mode;
    const given: unknown = mode;
    if (given !== "local" && given !== "broker" && given !== "hybrid") throw new TypeError('mode must be "local", "broker" or "hybrid"');
    if (mode !== "broker" && !hasKeys) throw new TypeError(`mode "${mode}" needs publicKey or jwksUri`);
    if (mode !== "local" && brokerUrl === undefined) throw new TypeError(`mode "${mode}" needs brokerUrl`);
  }

  let audience: readonly string[] | undefined;
  if (options.audience !== undefined) {
    const list: readonly unknown[] = Array.isArray(options.audience) ? options.audience : [options.audience];
    if (list.length === 0 || !list.every((a) => typeof a === "string" && a !== "")) {
      throw new TypeError("audience must be a non-empty string or a non-empty list of them");
    }
    audience = list as readonly string[];
  }
  const trustDomain = optString(options.trustDomain, "trustDomain", false);
  if (trustDomain !== undefined && !/^[a-z0-9._-]+$/.test(trustDomain)) {
    throw new TypeError("trustDomain must be a SPIFFE trust domain (lowercase letters, digits, '.', '_', '-')");
  }
  const allowed = options.allowedDelegators;
  if (allowed !== undefined && typeof allowed !== "function" && !(Array.isArray(allowed) && allowed.every((a) => typeof a === "string" && a !== ""))) {
    throw new TypeError("allowedDelegators must be a list of subjects (or prefix* patterns) or a predicate");
  }
  if (options.allowNonAgentSubjects !== undefined && typeof options.allowNonAgentSubjects !== "boolean") {
    throw new TypeError("allowNonAgentSubjects must be a boolean");
  }
  if (options.onDecision !== undefined && typeof options.onDecision !== "function") throw new TypeError("onDecision must be a function");
  if (options.fetch !== undefined && typeof options.fetch !== "function") throw new TypeError("fetch must be a function");
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if ((brokerUrl !== undefined || jwksUri !== undefined) && typeof fetchImpl !== "function") {
    throw new TypeError("no fetch implementation is available; pass options.fetch");
  }
  if (options.cache !== undefined && (typeof options.cache !== "object" || (options.cache as unknown) === null)) {
    throw new TypeError("cache must be an object");
  }
  const resourceMetadataUrl = options.resourceMetadataUrl === undefined ? undefined : httpUrl(options.resourceMetadataUrl, "resourceMetadataUrl");

  return {
    mode,
    brokerUrl,
    keyXs,
    jwksUri,
    issuer: optString(options.issuer, "issuer", true),
    audience,
    trustDomain,
    allowNonAgentSubjects: options.allowNonAgentSubjects ?? false,
    clockToleranceSec: int(options.clockToleranceSec, "clockToleranceSec", 5, 0, 300),
    maxDelegationDepth: int(options.maxDelegationDepth, "maxDelegationDepth", 5, 0, 64),
    allowedDelegators: allowed,
    maxStalenessSec: int(options.maxStalenessSec, "maxStalenessSec", 0, 0, 86400),
    brokerTimeoutMs: int(options.brokerTimeoutMs, "brokerTimeoutMs", 2000, 1, 60000),
    cacheMax: int(options.cache?.max, "cache.max", 10000, 1, 10_000_000),
    maxTokenBytes: int(options.maxTokenBytes, "maxTokenBytes", 16384, 256, 1 << 20),
    realm: optString(options.realm, "realm", true),
    resourceMetadataUrl,
    onDecision: options.onDecision,
    fetch: fetchImpl,
    logger: options.logger,
    maxParamLength: int(options.maxParamLength, "maxParamLength", DEFAULT_MAX_PARAM_LENGTH, 1, 65536),
    maxChallengeScopes: int(options.maxChallengeScopes, "maxChallengeScopes", DEFAULT_MAX_CHALLENGE_SCOPES, 1, 1024),
    telemetry: telemetryOption(options.telemetry),
  };
}
