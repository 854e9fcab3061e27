/** The broker's single Ed25519 signing key, its public forms and its `kid`. */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { ed25519Kid } from "@agentwrit/guard";

/** The public key as an RFC 8037 JWK, with the broker's `kid`. */
export type PublicJwk = {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
  readonly kid: string;
  readonly alg: "EdDSA";
  readonly use: "sig";
};

/** The loaded signing key pair. */
export interface SigningKeys {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Unpadded base64url of the raw 32-byte public key. */
  readonly x: string;
  /** RFC 7638 thumbprint: the `kid` written in every token header. */
  readonly kid: string;
  readonly publicKeyPem: string;
  readonly publicKeyJwk: PublicJwk;
}

/**
 * Loads a PEM PKCS#8 `PRIVATE KEY` (the format of the broker's `AA_SIGNING_KEY_PATH`) or, when
 * none is given, generates a fresh key.
 */
export async function loadSigningKeys(pem?: string): Promise<SigningKeys> {
  let privateKey: KeyObject;
  if (pem === undefined) {
    privateKey = generateKeyPairSync("ed25519").privateKey;
  } else {
    if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) throw new TypeError("signingKey must be a PEM PKCS#8 \"PRIVATE KEY\"");
    privateKey = createPrivateKey({ key: pem, format: "pem" });
    if (privateKey.asymmetricKeyType !== "ed25519") throw new TypeError("signingKey must be an Ed25519 key");
  }
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new TypeError("could not export the public key");
  const x = jwk.x;
  const kid = await ed25519Kid(x);
  return {
    privateKey,
    publicKey,
    x,
    kid,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    publicKeyJwk: { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig" },
  };
}

/** Ed25519 signature over `data`. */
export function ed25519Sign(key: KeyObject, data: Uint8Array | string): Buffer {
  return sign(null, Buffer.from(data), key);
}

/** Ed25519 verification; `false` for any malformed input. */
export function ed25519Verify(key: KeyObject, data: Uint8Array | string, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(data), key, sig);
  } catch {
    return false;
  }
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Imports a raw 32-byte Ed25519 public key. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}
