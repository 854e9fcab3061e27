/**
 * The agent's Ed25519 identity over Web Crypto only: key generation, the raw public key in
 * standard base64, and the signature over the hex-decoded challenge nonce (Part C.2 step 4).
 */
import { CryptoError } from "./errors.js";

/** An Ed25519 key for registration: a key pair, or a private key that is extractable (its JWK holds `x`). */
export type AgentKey = CryptoKeyPair | CryptoKey;

const ED25519 = "Ed25519";

function stdBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Decodes base64url (with or without padding); `null` when it is not base64url. */
export function decodeBase64Url(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return null;
  const b64 = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  let binary: string;
  try {
    binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  } catch {
    return null;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const isPair = (k: AgentKey): k is CryptoKeyPair => "privateKey" in k && "publicKey" in k;

/** A fresh Ed25519 pair whose private key cannot be exported. */
export async function generateAgentKey(): Promise<CryptoKeyPair> {
  try {
    return (await crypto.subtle.generateKey({ name: ED25519 }, false, ["sign", "verify"]));
  } catch (e) {
    throw new CryptoError("this runtime's Web Crypto cannot generate Ed25519 keys", { cause: e });
  }
}

/** The pair for a given key; a lone private key must be extractable so that its public half can be read. */
export async function resolveAgentKey(key: AgentKey | undefined): Promise<CryptoKeyPair> {
  if (key === undefined) return generateAgentKey();
  const pair = isPair(key) ? key : { privateKey: key, publicKey: await publicHalf(key) };
  if (pair.privateKey.algorithm.name !== ED25519 || pair.privateKey.type !== "private" || !pair.privateKey.usages.includes("sign")) {
    throw new CryptoError("privateKey must be an Ed25519 private key usable for signing");
  }
  if (pair.publicKey.algorithm.name !== ED25519 || pair.publicKey.type !== "public") {
    throw new CryptoError("the key pair's publicKey must be an Ed25519 public key");
  }
  return pair;
}

async function publicHalf(privateKey: CryptoKey): Promise<CryptoKey> {
  if (privateKey.algorithm.name !== ED25519 || privateKey.type !== "private") {
    throw new CryptoError("privateKey must be an Ed25519 private key");
  }
  if (!privateKey.extractable) {
    throw new CryptoError("a non-extractable private key needs its public key: pass the CryptoKeyPair");
  }
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new CryptoError("the private key's JWK has no public part");
  return crypto.subtle.importKey("jwk", { kty: "OKP", crv: ED25519, x: jwk.x }, { name: ED25519 }, true, ["verify"]);
}

/** The raw 32-byte public key in standard base64 with padding, as `/v1/register` wants it. */
export async function publicKeyBase64(pair: CryptoKeyPair): Promise<string> {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  if (raw.length !== 32) throw new CryptoError("the public key is not 32 bytes");
  return stdBase64(raw);
}

/** Standard base64 of the Ed25519 signature over the hex-decoded nonce. */
export async function signNonce(pair: CryptoKeyPair, nonceHex: string): Promise<string> {
  const bytes = hexBytes(nonceHex);
  if (bytes === null || bytes.length === 0) throw new CryptoError("the broker's challenge nonce is not hex");
  const signature = await crypto.subtle.sign({ name: ED25519 }, pair.privateKey, bytes);
  return stdBase64(new Uint8Array(signature));
}
