import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";

export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly jwk: { kty: "OKP"; crv: "Ed25519"; x: string };
  readonly rawBase64: string;
}

export function makeKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" }) as { kty: "OKP"; crv: "Ed25519"; x: string };
  return {
    privateKey,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    jwk: { kty: "OKP", crv: "Ed25519", x: jwk.x },
    rawBase64: Buffer.from(jwk.x, "base64url").toString("base64"),
  };
}

export const b64url = (v: unknown): string =>
  Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Signs arbitrary header/payload JSON (or raw segment strings) with Ed25519. */
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

export async function kidOf(key: TestKey): Promise<string> {
  const { calculateJwkThumbprint } = await import("jose");
  return calculateJwkThumbprint(key.jwk, "sha256");
}

/** Mints a broker-shaped token: header {alg, typ, kid}. */
export async function mint(key: TestKey, payload: Record<string, unknown> = claims(), header: Record<string, unknown> = {}): Promise<string> {
  return signJws({ alg: "EdDSA", typ: "JWT", kid: await kidOf(key), ...header }, payload, key.privateKey);
}

export const bearer = (t: string): string => "Bearer " + t;
