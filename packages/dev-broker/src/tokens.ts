/** `TknSvc`: issuing, verifying and renewing broker tokens with the broker's exact rules. */
import type { DelegationRecord } from "@agentwrit/guard";
import { decodeRawUrlGo, encodeRawUrl } from "./base64.js";
import type { Env } from "./clock.js";
import { decodeClaims, serializeClaims, type TokenClaims } from "./claims.js";
import { decodeStrict, goJsonStringify, JsonDecodeError } from "./go-json.js";
import { ed25519Sign, ed25519Verify, type SigningKeys } from "./keys.js";
import type { RevocationStore } from "./revocation.js";

/** Settings that shape every issued token. */
export interface TokenConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly defaultTtl: number;
  readonly maxTtl: number;
}

/** What a caller asks `issue` for. */
export interface IssueRequest {
  readonly sub: string;
  readonly scope: readonly string[];
  /** Requested TTL in seconds; ≤ 0 means the default TTL. Clamped to the max TTL. */
  readonly ttl: number;
  readonly taskId?: string | undefined;
  readonly orchId?: string | undefined;
  readonly sid?: string | undefined;
  /** Overrides the configured audience (delegation and renewal copy the original's). */
  readonly aud?: readonly string[] | undefined;
  readonly delegationChain?: readonly DelegationRecord[] | undefined;
  readonly chainHash?: string | undefined;
}

/** An issued token. */
export interface IssuedToken {
  readonly token: string;
  readonly claims: TokenClaims;
  /** The TTL after defaulting and clamping. */
  readonly expiresIn: number;
}

/** Why verification failed (never shown to clients; the broker collapses them all). */
export type VerifyFailure =
  | "invalid_token"
  | "signature_invalid"
  | "missing_subject"
  | "missing_jti"
  | "no_expiry"
  | "expired"
  | "not_yet_valid"
  | "invalid_issuer"
  | "revoked";

export type VerifyResult = { readonly ok: true; readonly claims: TokenClaims } | { readonly ok: false; readonly reason: VerifyFailure };

const HEADER_SCHEMA = { alg: "string", typ: "string", kid: "string" } as const;

export class TokenService {
  private readonly headerSegment: string;

  constructor(
    private readonly keys: SigningKeys,
    private readonly config: TokenConfig,
    private readonly env: Env,
    private readonly revocations: RevocationStore,
  ) {
    this.headerSegment = encodeRawUrl(goJsonStringify({ alg: "EdDSA", typ: "JWT", kid: keys.kid }));
  }

  /** The TTL rule of `Issue`: ≤ 0 → default; above a positive max → max. */
  effectiveTtl(ttl: number): number {
    let t = ttl <= 0 ? this.config.defaultTtl : ttl;
    if (this.config.maxTtl > 0 && t > this.config.maxTtl) t = this.config.maxTtl;
    return t;
  }

  /** The configured audience as the `aud` claim (absent when none). */
  defaultAud(): readonly string[] | undefined {
    return this.config.audience === "" ? undefined : [this.config.audience];
  }

  issue(req: IssueRequest): IssuedToken {
    const ttl = this.effectiveTtl(req.ttl);
    const now = this.env.nowSec();
    const claims: TokenClaims = {
      iss: this.config.issuer,
      sub: req.sub,
      aud: req.aud ?? this.defaultAud(),
      exp: now + ttl,
      nbf: now,
      iat: now,
      jti: this.env.randomHex("jti", 16),
      sid: req.sid,
      scope: [...req.scope],
      task_id: req.taskId,
      orch_id: req.orchId,
      delegation_chain: req.delegationChain,
      chain_hash: req.chainHash,
    };
    return { token: this.sign(claims), claims, expiresIn: ttl };
  }

  /** Signs claims as-is (header `{"alg","typ","kid"}`, Go JSON payload, Ed25519). */
  sign(claims: TokenClaims): string {
    const signingInput = this.headerSegment + "." + encodeRawUrl(serializeClaims(claims));
    return signingInput + "." + encodeRawUrl(ed25519Sign(this.keys.privateKey, signingInput));
  }

  /** `TknSvc.Verify`, step by step as the broker runs it (no leeway, no audience check). */
  verify(token: string): VerifyResult {
    const fail = (reason: VerifyFailure): VerifyResult => ({ ok: false, reason });
    // strings.SplitN(token, ".", 3)
    const first = token.indexOf(".");
    const second = first < 0 ? -1 : token.indexOf(".", first + 1);
    if (second < 0) return fail("invalid_token");
    const h = token.slice(0, first);
    const p = token.slice(first + 1, second);
    const s = token.slice(second + 1);

    const headerBytes = decodeRawUrlGo(h);
    if (headerBytes === null) return fail("invalid_token");
    let header;
    try {
      header = decodeStrict(headerBytes, HEADER_SCHEMA);
    } catch {
      return fail("invalid_token");
    }
    if (header.alg !== "EdDSA") return fail("invalid_token");
    if (header.kid !== undefined && header.kid !== "" && header.kid !== this.keys.kid) return fail("invalid_token");

    const sig = decodeRawUrlGo(s);
    if (sig === null || !ed25519Verify(this.keys.publicKey, h + "." + p, sig)) return fail("signature_invalid");

    const payload = decodeRawUrlGo(p);
    if (payload === null) return fail("invalid_token");
    let claims: TokenClaims;
    try {
      claims = decodeClaims(payload);
    } catch (e) {
      if (e instanceof JsonDecodeError) return fail("invalid_token");
      throw e;
    }

    const now = this.env.nowSec();
    if (claims.sub === "") return fail("missing_subject");
    if (claims.jti === "") return fail("missing_jti");
    if (claims.exp <= 0) return fail("no_expiry");
    if (now > claims.exp) return fail("expired");
    if (claims.nbf !== 0 && now < claims.nbf) return fail("not_yet_valid");
    if (this.config.issuer !== "" && claims.iss !== this.config.issuer) return fail("invalid_issuer");
    if (this.revocations.isRevoked(claims)) return fail("revoked");
    return { ok: true, claims };
  }

  /**
   * `TknSvc.Renew`: verify again, revoke the predecessor's jti first, then issue the same
   * identity with a new jti and the original TTL.
   */
  renew(token: string): IssuedToken | null {
    const v = this.verify(token);
    if (!v.ok) return null;
    const old = v.claims;
    this.revocations.revoke("token", old.jti);
    return this.issue({
      sub: old.sub,
      scope: old.scope ?? [],
      ttl: old.exp - old.iat,
      taskId: old.task_id,
      orchId: old.orch_id,
      sid: old.sid,
      aud: old.aud ?? [],
      delegationChain: old.delegation_chain,
      chainHash: old.chain_hash,
    });
  }
}
