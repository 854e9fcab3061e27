/**
 * Byte-exact reproduction of Go's `encoding/json` string encoding, which the broker uses for
 * `chain_hash`. `JSON.stringify` already matches Go for control characters (short escapes for
 * \b \f \n \r \t, lowercase \u00xx otherwise); Go additionally escapes `<`, `>` and `&` (HTML
 * safety) and U+2028 / U+2029.
 */
const GO_EXTRA_ESCAPES = /[<>&\u2028\u2029]/g;

function escapeExtra(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/** Encodes a string as Go's `json.Marshal` would. */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(GO_EXTRA_ESCAPES, escapeExtra);
}

/** Encodes a list of strings as Go's `json.Marshal` would (`null` for a missing list). */
export function goJsonStringArray(list: readonly string[] | null | undefined): string {
  if (list == null) return "null";
  return "[" + list.map(goJsonString).join(",") + "]";
}
