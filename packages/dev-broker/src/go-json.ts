/**
 * Request decoding and response encoding with Go `encoding/json` semantics, as far as the
 * broker's behaviour depends on them:
 *
 * - `decodeBody` mirrors `json.NewDecoder(r.Body).Decode(&req)`: only the first JSON value is
 *   read (trailing data ignored), keys match struct fields case-insensitively (an exact match
 *   wins), unknown keys are ignored, keys are applied in input order (a later duplicate wins),
 *   `null` leaves a string, number or bool field as it was and empties a list, and a value of
 *   the wrong type is an error.
 * - `decodeStrict` mirrors `json.Unmarshal`: the whole input must be one JSON value.
 * - Both refuse nesting deeper than Go's limit (10,000), wherever it occurs in the value (an
 *   unknown field included), and read integers from their literal text as `strconv.ParseInt`
 *   does (`1.0` and `4.1e9` are not integers).
 * - `goJsonStringify` writes what `json.Marshal` / `json.Encoder` write for plain data: Go
 *   escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings.
 *
 * Known gap (documented in the README): integers beyond ±2^53 are refused (Go accepts up to
 * ±2^63).
 *
 * The parser is iterative (an explicit stack), so deep input cannot exhaust the call stack, and
 * its work is linear in the input, which the server caps at 1 MiB.
 */

/** The Go field types the broker's request structs use. `anystring` is a field whose decode
 * errors are ignored: any JSON value is accepted, and only a string is kept. */
export type FieldKind = "string" | "strings" | "int" | "bool" | "chain" | "anystring";

/** A struct description: JSON field name → Go type. */
export type Schema = Readonly<Record<string, FieldKind>>;

/** One `DelegRecord` as decoded from a token. */
export interface DecodedRecord {
  agent: string;
  scope: string[] | null;
  delegated_at: string;
  signature: string;
}

type FieldValue<K extends FieldKind> = K extends "string" | "anystring"
  ? string
  : K extends "strings"
    ? string[]
    : K extends "int"
      ? number
      : K extends "bool"
        ? boolean
        : DecodedRecord[];

/** The decoded struct: a field is `undefined` when absent or `null` in the input. */
export type Decoded<S extends Schema> = { -readonly [F in keyof S]?: FieldValue<S[F]> };

/** Thrown for any decode failure; handlers answer "malformed JSON body". */
export class JsonDecodeError extends Error {
  override readonly name = "JsonDecodeError";
}

/** Go's `maxNestingDepth`: deeper nesting is a syntax error. */
export const MAX_NESTING_DEPTH = 10_000;

/** A parsed JSON value; numbers keep their literal text, objects keep every key in order. */
export type JsonValue =
  | { readonly t: "null" }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "num"; readonly raw: string }
  | { readonly t: "str"; readonly v: string }
  | { readonly t: "arr"; readonly items: JsonValue[] }
  | { readonly t: "obj"; readonly entries: [string, JsonValue][] };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const REPLACEMENT = "\ufffd";

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** The code unit of a `\uXXXX` escape at `i`, or -1. */
function u4(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x5c || s.charCodeAt(i + 1) !== 0x75) return -1;
  const hex = s.slice(i + 2, i + 6);
  return HEX4.test(hex) ? parseInt(hex, 16) : -1;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Reads a string literal starting at the quote at `i`; invalid surrogates become U+FFFD as in Go. */
function readString(s: string, i: number): { v: string; end: number } {
  if (s.charCodeAt(i) !== 0x22) throw new JsonDecodeError("expected string");
  let out = "";
  let from = i + 1;
  let j = from;
  for (;;) {
    if (j >= s.length) throw new JsonDecodeError("unexpected end of string");
    const c = s.charCodeAt(j);
    if (c === 0x22) return { v: out + s.slice(from, j), end: j + 1 };
    if (c < 0x20) throw new JsonDecodeError("control character in string");
    if (c !== 0x5c) {
      j++;
      continue;
    }
    out += s.slice(from, j);
    const e = s[j + 1] ?? "";
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      j += 2;
    } else if (e === "u") {
      const unit = u4(s, j);
      if (unit < 0) throw new JsonDecodeError("invalid \\u escape");
      j += 6;
      if (unit >= 0xd800 && unit <= 0xdfff) {
        const low = u4(s, j);
        if (unit <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
          out += String.fromCharCode(unit, low);
          j += 6;
        } else {
          out += REPLACEMENT;
        }
      } else {
        out += String.fromCharCode(unit);
      }
    } else {
      throw new JsonDecodeError("invalid escape");
    }
    from = j;
  }
}

type Frame = { kind: "arr"; items: JsonValue[] } | { kind: "obj"; entries: [string, JsonValue][]; key: string };

/** Reads `"key"` and the colon after it, returning the position after the colon. */
function readKey(s: string, i: number, frame: Frame & { kind: "obj" }): number {
  const k = readString(s, skipWs(s, i));
  frame.key = k.v;
  const colon = skipWs(s, k.end);
  if (s.charCodeAt(colon) !== 0x3a) throw new JsonDecodeError("expected colon");
  return colon + 1;
}

/**
 * Parses the first JSON value of `s` (leading whitespace skipped) and returns it with the
 * position right after it. Nothing after that position is looked at.
 */
export function parseFirstValue(s: string): { value: JsonValue; end: number } {
  const stack: Frame[] = [];
  let i = 0;
  for (;;) {
    // A value starts here.
    i = skipWs(s, i);
    if (i >= s.length) throw new JsonDecodeError("unexpected end of input");
    const c = s[i];
    let value: JsonValue;
    if (c === "{" || c === "[") {
      if (stack.length + 1 > MAX_NESTING_DEPTH) throw new JsonDecodeError("exceeded max depth");
      const close = c === "{" ? "}" : "]";
      const after = skipWs(s, i + 1);
      if (s[after] === close) {
        value = c === "{" ? { t: "obj", entries: [] } : { t: "arr", items: [] };
        i = after + 1;
      } else if (c === "{") {
        const frame: Frame = { kind: "obj", entries: [], key: "" };
        stack.push(frame);
        i = readKey(s, after, frame);
        continue;
      } else {
        stack.push({ kind: "arr", items: [] });
        i = after;
        continue;
      }
    } else if (c === '"') {
      const str = readString(s, i);
      value = { t: "str", v: str.v };
      i = str.end;
    } else if (s.startsWith("true", i)) {
      value = { t: "bool", v: true };
      i += 4;
    } else if (s.startsWith("false", i)) {
      value = { t: "bool", v: false };
      i += 5;
    } else if (s.startsWith("null", i)) {
      value = { t: "null" };
      i += 4;
    } else {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(s);
      if (m === null) throw new JsonDecodeError("invalid character");
      value = { t: "num", raw: m[0] };
      i += m[0].length;
    }
    // A value is complete: attach it to its container, closing containers as they end.
    for (;;) {
      const top = stack.at(-1);
      if (top === undefined) return { value, end: i };
      if (top.kind === "arr") top.items.push(value);
      else top.entries.push([top.key, value]);
      i = skipWs(s, i);
      const d = s[i];
      if (d === ",") {
        i = top.kind === "obj" ? readKey(s, i + 1, top) : i + 1;
        break;
      }
      if ((top.kind === "arr" && d === "]") || (top.kind === "obj" && d === "}")) {
        stack.pop();
        value = top.kind === "arr" ? { t: "arr", items: top.items } : { t: "obj", entries: top.entries };
        i++;
        continue;
      }
      throw new JsonDecodeError("invalid character after value");
    }
  }
}

/** Parses text that must be exactly one JSON value (surrounding whitespace allowed). */
export function parseJson(s: string): JsonValue {
  const { value, end } = parseFirstValue(s);
  if (skipWs(s, end) !== s.length) throw new JsonDecodeError("invalid character after top-level value");
  return value;
}

/** Go's case folding for field names (ASCII plus the Kelvin sign and long s). */
function fold(s: string): string {
  return s.replace(/\u212a/g, "k").replace(/\u017f/g, "s").toLowerCase();
}

const RECORD_SCHEMA = { agent: "string", scope: "strings", delegated_at: "string", signature: "string" } as const;
// RFC 3339 as Go's time.Time UnmarshalJSON accepts it.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
// strconv.ParseInt(s, 10, 64) on a JSON number literal: an optional minus and digits only.
const INTEGER = /^-?\d+$/;

function stringOf(v: JsonValue): string {
  if (v.t !== "str") throw new JsonDecodeError("cannot unmarshal into string");
  return v.v;
}

function convert(kind: FieldKind, v: JsonValue): unknown {
  switch (kind) {
    case "string":
      return stringOf(v);
    case "anystring":
      return v.t === "str" ? v.v : undefined;
    case "int": {
      if (v.t !== "num" || !INTEGER.test(v.raw)) throw new JsonDecodeError("cannot unmarshal into int");
      const n = Number(v.raw);
      if (!Number.isSafeInteger(n)) throw new JsonDecodeError("integer out of range");
      return n === 0 ? 0 : n; // "-0" is 0
    }
    case "bool":
      if (v.t !== "bool") throw new JsonDecodeError("cannot unmarshal into bool");
      return v.v;
    case "strings":
      if (v.t !== "arr") throw new JsonDecodeError("cannot unmarshal into []string");
      return v.items.map((e) => (e.t === "null" ? "" : stringOf(e)));
    case "chain":
      if (v.t !== "arr") throw new JsonDecodeError("cannot unmarshal into []DelegRecord");
      return v.items.map((e): DecodedRecord => {
        const r = decodeObject(e, RECORD_SCHEMA);
        const at = r.delegated_at ?? "0001-01-01T00:00:00Z";
        if (!RFC3339.test(at)) throw new JsonDecodeError("cannot parse time");
        return { agent: r.agent ?? "", scope: r.scope ?? null, delegated_at: at, signature: r.signature ?? "" };
      });
    default: {
      const never: never = kind;
      throw new JsonDecodeError(`unknown kind ${String(never)}`);
    }
  }
}

/** Decodes an already-parsed value into a struct described by `schema`. */
export function decodeObject<S extends Schema>(value: JsonValue, schema: S): Decoded<S> {
  if (value.t === "null") return {};
  if (value.t !== "obj") throw new JsonDecodeError("cannot unmarshal into struct");
  const folded = new Map(Object.keys(schema).map((f) => [fold(f), f]));
  const out: Record<string, unknown> = {};
  for (const [key, v] of value.entries) {
    const field = Object.hasOwn(schema, key) ? key : folded.get(fold(key));
    if (field === undefined) continue;
    const kind = schema[field];
    if (kind === undefined) continue;
    if (v.t === "null") {
      // Go: null empties a slice and leaves any other field as it was.
      if (kind === "strings" || kind === "chain") out[field] = undefined;
      continue;
    }
    const converted = convert(kind, v);
    if (converted !== undefined) out[field] = converted;
  }
  return out as Decoded<S>;
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/** `json.NewDecoder(body).Decode(&s)`: the first JSON value of the body, trailing data ignored. */
export function decodeBody<S extends Schema>(body: Uint8Array, schema: S): Decoded<S> {
  return decodeObject(parseFirstValue(text(body)).value, schema);
}

/** `json.Unmarshal(data, &s)`: the whole input must be exactly one JSON value. */
export function decodeStrict<S extends Schema>(data: Uint8Array, schema: S): Decoded<S> {
  return decodeObject(parseJson(text(data)), schema);
}

const GO_ESCAPES = /[<>&\u2028\u2029]/g;

/** `json.Marshal` for plain data whose key order is already Go's field order. */
export function goJsonStringify(value: unknown): string {
  return JSON.stringify(value).replace(GO_ESCAPES, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
}
