// Keys and broker-shaped EdDSA tokens minted with node:crypto (header {alg, typ, kid}, claims in
// the broker's field order), so the benchmarks never depend on the dev broker's issuing speed.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { ed25519Kid } from "@agentwrit/guard";

export const ISSUER = "https://broker.bench.local";
export const AUDIENCE = "bench-api";
export const TRUST_DOMAIN = "agentwrit.local";

/** The key pair in every form the guards under test accept. */
async function describeKeys(privateKey, publicKey) {
  const jwk = publicKey.export({ format: "jwk" });
  const kid = await ed25519Kid(jwk.x);
  return {
    privateKey,
    publicKey,
    kid,
    x: jwk.x,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicJwk: { kty: "OKP", crv: "Ed25519", x: jwk.x, kid, alg: "EdDSA", use: "sig" },
    spkiDer: publicKey.export({ format: "der", type: "spki" }),
  };
}

/** A fresh Ed25519 key pair. */
export async function makeKeys() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return describeKeys(privateKey, publicKey);
}

/** Rebuilds the keys from a PKCS#8 PEM (a child process receives the parent's key this way). */
export async function keysFromPem(privateKeyPem) {
  const privateKey = createPrivateKey(privateKeyPem);
  return describeKeys(privateKey, createPublicKey(privateKey));
}

const b64u = (s) => Buffer.from(s).toString("base64url");

/** Agent claims in the broker's Go field order. `extraScopes` pads the token (worst-case sizes). */
export function agentClaims(i, { ttlSec = 3600, scope, nowSec = Math.floor(Date.now() / 1000) } = {}) {
  return {
    iss: ISSUER,
    sub: `spiffe://${TRUST_DOMAIN}/agent/orch-bench/task-${i % 97}/inst-${i}`,
    aud: [AUDIENCE],
    exp: nowSec + ttlSec,
    nbf: nowSec,
    iat: nowSec,
    jti: randomBytes(16).toString("hex"),
    scope: scope ?? ["read:data:*", `write:data:order-${i}`],
    task_id: `task-${i % 97}`,
    orch_id: "orch-bench",
  };
}

/** Signs claims as the broker does; returns the token and its signing input and signature bytes. */
export function mint(keys, claims) {
  const header = b64u(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: keys.kid }));
  const signingInput = header + "." + b64u(JSON.stringify(claims));
  const sig = sign(null, Buffer.from(signingInput), keys.privateKey);
  return { token: signingInput + "." + sig.toString("base64url"), signingInput, sig };
}

/** `n` distinct valid agent tokens (strings only). */
export function mintMany(keys, n, start = 0, opts = {}) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = mint(keys, agentClaims(start + i, opts)).token;
  return out;
}
