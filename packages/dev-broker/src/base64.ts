/**
 * Base64 decoders with Go's `encoding/base64` leniency rules, which decide which token and
 * registration inputs the broker accepts.
 */

const URL_ALPHABET = /^[A-Za-z0-9_-]*$/;
const STD_PADDED = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `base64.RawURLEncoding.DecodeString`: no padding, `\r` and `\n` skipped, unused trailing bits
 * not checked. Returns `null` when Go would return an error.
 */
export function decodeRawUrlGo(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, "");
  if (!URL_ALPHABET.test(t) || t.length % 4 === 1) return null;
  return Buffer.from(t, "base64url");
}

/**
 * `base64.StdEncoding.DecodeString`: standard alphabet, padding required, `\r` and `\n`
 * skipped. Returns `null` when Go would return an error.
 */
export function decodeStdGo(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, "");
  if (t.length % 4 !== 0 || !STD_PADDED.test(t)) return null;
  return Buffer.from(t, "base64");
}

/** Unpadded base64url, as the broker writes JWT segments. */
export function encodeRawUrl(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64url");
}
