/**
 * Test tokens with real Ed25519 keys, shared by the adapter suites and the conformance suite.
 * (Adapted from packages/core/test/support/tokens.ts; the kid is computed without jose.)
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";

export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly jwk: { kty: "OKP"; crv: "Ed25519"; x: string };
  /** RFC 7638 thumbprint, the `kid` the broker writes. */
  readonly kid: string;
  /** The raw 32-byte public key in standard base64. */
  readonly rawBase64: string;
}

export function makeKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  const kid = createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
  return {
    privateKey,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    jwk: { kty: "OKP", crv: "Ed25519", x },
    kid,
    rawBase64: Buffer.from(x, "base64url").toString("base64"),
  };
}

export const b64url = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Signs arbitrary header/payload JSON with Ed25519. */
export function signJws(header: unknown, payload: unknown, key: KeyObject): string {
  const input = b64url(header) + "." + b64url(payload);
  return input + "." + sign(null, Buffer.from(input), key).toString("base64url");
}

export const nowSec = (): number => Math.floor(Date.now() / 1000);

export const AGENT = "spiffe://agentwrit.local/agent/orch-1/task-1/0123456789abcdef";

export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSec();
  return {
    iss: "",
    sub: AGENT,
    exp: iat + 300,
    nbf: iat,
    iat,
    jti: "0123456789abcdef0123456789abcdef",
    scope: ["read:data:customer-42", "write:data:order-7"],
    task_id: "task-1",
    orch_id: "orch-1",
    ...overrides,
  };
}

/** Mints a broker-shaped token: header {alg, typ, kid}. */
export function mint(key: TestKey, payload: Record<string, unknown> = claims(), header: Record<string, unknown> = {}): string {
  return signJws({ alg: "EdDSA", typ: "JWT", kid: key.kid, ...header }, payload, key.privateKey);
}

export const bearer = (t: string): string => "Bearer " + t;
