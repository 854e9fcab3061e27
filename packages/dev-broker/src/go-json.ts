/**
 * Request decoding and response encoding with Go `encoding/json` semantics, as far as the
 * broker's behaviour depends on them:
 *
 * - `decodeBody` mirrors `json.NewDecoder(r.Body).Decode(&req)`: only the first JSON value is
 *   read (trailing data ignored), keys match struct fields case-insensitively (an exact match
 *   wins), unknown keys are ignored, `null` leaves a field unset, and a value of the wrong type
 *   is an error.
 * - `decodeStrict` mirrors `json.Unmarshal`: the whole input must be one JSON value.
 * - `goJsonStringify` writes what `json.Marshal` / `json.Encoder` write for plain data: Go
 *   escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings.
 *
 * Known gaps (documented in the README): an integer written as `1.0` is accepted (Go rejects
 * it), and duplicate keys differing only in case resolve by JavaScript object order.
 */

/** The Go field types the broker's request structs use. */
export type FieldKind = "string" | "strings" | "int" | "bool" | "chain";

/** A struct description: JSON field name → Go type. */
export type Schema = Readonly<Record<string, FieldKind>>;

/** One `DelegRecord` as decoded from a token. */
export interface DecodedRecord {
  agent: string;
  scope: string[] | null;
  delegated_at: string;
  signature: string;
}

type FieldValue<K extends FieldKind> = K extends "string"
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

const WS = new Set([" ", "\t", "\n", "\r"]);

/** Returns the text of the first JSON value in `text` (leading whitespace skipped). */
function firstValueText(text: string): string {
  let i = 0;
  while (i < text.length && WS.has(text[i] ?? "")) i++;
  if (i >= text.length) throw new JsonDecodeError("EOF");
  const start = i;
  const c = text[i];
  if (c === "{" || c === "[") {
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === "\\") i++;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "{" || ch === "[") depth++;
      else if (ch === "}" || ch === "]") {
        depth--;
        if (depth === 0) return text.slice(start, i + 1);
      }
    }
    throw new JsonDecodeError("unexpected EOF");
  }
  if (c === '"') {
    for (i++; i < text.length; i++) {
      const ch = text[i];
      if (ch === "\\") i++;
      else if (ch === '"') return text.slice(start, i + 1);
    }
    throw new JsonDecodeError("unexpected EOF");
  }
  // A literal or a number ends at the first delimiter.
  while (i < text.length && !/[\s,\]}[{":]/.test(text[i] ?? "")) i++;
  return text.slice(start, i);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new JsonDecodeError("syntax error");
  }
}

/** Go's case folding for field names (ASCII plus the Kelvin sign and long s). */
function fold(s: string): string {
  return s.replace(/\u212a/g, "k").replace(/\u017f/g, "s").toLowerCase();
}

const RECORD_SCHEMA = { agent: "string", scope: "strings", delegated_at: "string", signature: "string" } as const;
// RFC 3339 as Go's time.Time UnmarshalJSON accepts it.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function convert(kind: FieldKind, v: unknown): unknown {
  switch (kind) {
    case "string":
      if (typeof v !== "string") throw new JsonDecodeError("cannot unmarshal into string");
      return v;
    case "int":
      if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new JsonDecodeError("cannot unmarshal into int");
      return v;
    case "bool":
      if (typeof v !== "boolean") throw new JsonDecodeError("cannot unmarshal into bool");
      return v;
    case "strings":
      if (!Array.isArray(v)) throw new JsonDecodeError("cannot unmarshal into []string");
      return v.map((e: unknown) => {
        if (e === null) return "";
        if (typeof e !== "string") throw new JsonDecodeError("cannot unmarshal into string");
        return e;
      });
    case "chain":
      if (!Array.isArray(v)) throw new JsonDecodeError("cannot unmarshal into []DelegRecord");
      return v.map((e: unknown): DecodedRecord => {
        const r = e === null ? {} : decodeObject(e, RECORD_SCHEMA);
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
export function decodeObject<S extends Schema>(value: unknown, schema: S): Decoded<S> {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new JsonDecodeError("cannot unmarshal into struct");
  const fields = Object.keys(schema);
  const folded = new Map(fields.map((f) => [fold(f), f]));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = key in schema ? key : folded.get(fold(key));
    if (field === undefined) continue;
    const kind = schema[field];
    if (kind === undefined) continue;
    out[field] = v === null ? undefined : convert(kind, v);
  }
  return out as Decoded<S>;
}

/** `json.NewDecoder(body).Decode(&s)`: the first JSON value of the body, trailing data ignored. */
export function decodeBody<S extends Schema>(body: Uint8Array, schema: S): Decoded<S> {
  const text = Buffer.from(body).toString("utf8");
  return decodeObject(parse(firstValueText(text)), schema);
}

/** `json.Unmarshal(data, &s)`: the whole input must be exactly one JSON value. */
export function decodeStrict<S extends Schema>(data: Uint8Array, schema: S): Decoded<S> {
  return decodeObject(parse(Buffer.from(data).toString("utf8")), schema);
}

const GO_ESCAPES = /[<>&\u2028\u2029]/g;

/** `json.Marshal` for plain data whose key order is already Go's field order. */
export function goJsonStringify(value: unknown): string {
  return JSON.stringify(value).replace(GO_ESCAPES, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
}
