/** Small, strict encoders and decoders over Web-standard types only. */
/* eslint-disable @typescript-eslint/no-non-null-assertion -- indices below are bounded by the loops that use them */

const B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL_ALPHABET.length; i++) B64URL_LOOKUP[B64URL_ALPHABET.charCodeAt(i)] = i;

export const utf8Encoder: TextEncoder = new TextEncoder();
/**
 * Strict UTF-8: invalid bytes throw, and a leading byte-order mark is kept (`ignoreBOM: true`)
 * so that JSON.parse refuses it, as Go's decoder does. The default would silently strip it and
 * accept a JWS segment the broker refuses.
 */
export const utf8Decoder: TextDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes unpadded base64url strictly: only the URL-safe alphabet, no padding, no whitespace,
 * no impossible length, and the unused low bits of the last character must be zero (canonical).
 * Returns `null` for anything else.
 */
export function decodeBase64UrlStrict(s: string): Uint8Array | null {
  const len = s.length;
  const rem = len % 4;
  if (rem === 1) return null;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const a = lookup(s, i);
    const b = lookup(s, i + 1);
    const c = lookup(s, i + 2);
    const d = lookup(s, i + 3);
    if ((a | b | c | d) < 0) return null;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  if (rem === 2) {
    const a = lookup(s, i);
    const b = lookup(s, i + 1);
    if ((a | b) < 0 || (b & 0x0f) !== 0) return null;
    out[o] = (a << 2) | (b >> 4);
  } else if (rem === 3) {
    const a = lookup(s, i);
    const b = lookup(s, i + 1);
    const c = lookup(s, i + 2);
    if ((a | b | c) < 0 || (c & 0x03) !== 0) return null;
    const n = (a << 10) | (b << 4) | (c >> 2);
    out[o] = n >> 8;
    out[o + 1] = n & 0xff;
  }
  return out;
}

function lookup(s: string, i: number): number {
  const code = s.charCodeAt(i);
  return code < 128 ? (B64URL_LOOKUP[code] ?? -1) : -1;
}

/** Encodes bytes as unpadded base64url. */
export function encodeBase64Url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out +=
      B64URL_ALPHABET[n >> 18]! +
      B64URL_ALPHABET[(n >> 12) & 63]! +
      B64URL_ALPHABET[(n >> 6) & 63]! +
      B64URL_ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] ?? 0) << 16;
    out += B64URL_ALPHABET[n >> 18]! + B64URL_ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += B64URL_ALPHABET[n >> 18]! + B64URL_ALPHABET[(n >> 12) & 63]! + B64URL_ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes standard or URL-safe base64, padded or not (used only for configuration values such
 * as a raw public key). Returns `null` when the text is not base64.
 */
export function decodeBase64Loose(s: string): Uint8Array | null {
  const trimmed = s.replace(/\s+/g, "").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return decodeBase64UrlStrict(trimmed);
}

const HEX = "0123456789abcdef";

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Decodes lowercase or uppercase hex; `null` when malformed. */
export function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Constant-time comparison of two equal-purpose strings (for digests and secrets). */
export function timingSafeEqualString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** SHA-256 over bytes or UTF-8 text, through Web Crypto. */
export async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? utf8Encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}
