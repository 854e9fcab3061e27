/**
 * How Go's `encoding/json` matches object keys to struct fields, so that the guard never reads
 * a header or claim differently from the broker. Go prefers an exact match but also accepts a
 * key equal under its folding: ASCII case, plus the four non-ASCII runes whose
 * `unicode.ToUpper(unicode.ToLower(r))` is ASCII (U+0130 İ, U+0131 ı → I; U+017F ſ → S;
 * U+212A Kelvin sign → K), as computed from Go's own tables. When several keys match a field,
 * the last one wins.
 */

/** Go's fold of a key when it can equal an ASCII name, else `null`. */
function goFoldAscii(key: string): string | null {
  let out = "";
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) out += String.fromCharCode(c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
    else if (c === 0x130 || c === 0x131) out += "I";
    else if (c === 0x17f) out += "S";
    else if (c === 0x212a) out += "K";
    else return null;
  }
  return out;
}

/** A set of field names, and the check that no other key would fill one of them in Go. */
export class GoFieldNames {
  readonly #exact: ReadonlySet<string>;
  readonly #folded: ReadonlyMap<string, string>;

  constructor(names: readonly string[]) {
    this.#exact = new Set(names);
    this.#folded = new Map(names.map((n) => [goFoldAscii(n) ?? n, n]));
  }

  /**
   * The first key of `obj` that is not one of the names but that Go would read into one
   * (`"Scope"`, `"ſcope"`, `"\u212Aid"`), with the field it would fill; `undefined` when none.
   */
  variant(obj: object): { readonly key: string; readonly field: string } | undefined {
    for (const key of Object.keys(obj)) {
      if (this.#exact.has(key)) continue;
      const folded = goFoldAscii(key);
      const field = folded === null ? undefined : this.#folded.get(folded);
      if (field !== undefined) return { key, field };
    }
    return undefined;
  }
}

/**
 * True when JSON text holds a number with a fraction or an exponent (`4.1e9`, `4100000000.0`),
 * which Go refuses for an integer field and JavaScript would read as an integer. The text must
 * be valid JSON (parse it first): outside strings, `.` only occurs in a fraction and `e`/`E`
 * after a digit only in an exponent.
 */
export function hasNonIntegerNumber(text: string): boolean {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x2e) {
      return true;
    } else if (c === 0x65 || c === 0x45) {
      const prev = text.charCodeAt(i - 1);
      if (prev >= 0x30 && prev <= 0x39) return true;
    }
  }
  return false;
}
