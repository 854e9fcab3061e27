/**
 * Reading `WWW-Authenticate` (RFC 9110 §11.6.1) and the Bearer challenge parameters of RFC 6750
 * §3 and RFC 9728 §5.1: the other half of `challenge.ts`, for clients that act on a refusal.
 *
 * The grammar is parsed strictly: a header that does not follow it, repeats a parameter, or is
 * longer than {@link MAX_CHALLENGE_HEADER_LENGTH} yields `null`, so a client never acts on a
 * challenge it had to guess at.
 */

/** Longer headers are not parsed (a guard's `scope` for hundreds of scopes stays far below). */
export const MAX_CHALLENGE_HEADER_LENGTH = 65536;

/** One challenge: its scheme, and either its auth-params (names lower-cased) or a token68. */
export interface ParsedChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
  readonly token68?: string;
}

/** The parameters of a Bearer challenge that a client acts on. */
export interface BearerChallenge {
  readonly realm?: string;
  /** `invalid_request`, `invalid_token`, `insufficient_scope`, or another code. */
  readonly error?: string;
  readonly errorDescription?: string;
  readonly errorUri?: string;
  /** The `scope` parameter split on spaces (empty when absent). */
  readonly scope: readonly string[];
  /** RFC 9728 `resource_metadata`. */
  readonly resourceMetadata?: string;
}

const isTchar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || // DIGIT
  (c >= 0x41 && c <= 0x5a) || // upper ALPHA
  (c >= 0x61 && c <= 0x7a) || // lower ALPHA
  c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e ||
  c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
const isToken68Char = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
  c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2b || c === 0x2f;
const isWs = (c: number): boolean => c === 0x20 || c === 0x09;
/** qdtext and the characters a quoted-pair may escape: HTAB, SP, VCHAR, obs-text. */
const isQuotable = (c: number): boolean => c === 0x09 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  atEnd(): boolean {
    return this.i >= this.s.length;
  }
  peek(offset = 0): number {
    return this.i + offset < this.s.length ? this.s.charCodeAt(this.i + offset) : -1;
  }
  skipWs(): void {
    while (isWs(this.peek())) this.i++;
  }
  /** Skips OWS, commas and OWS (empty list elements are allowed). */
  skipSeparators(): void {
    while (isWs(this.peek()) || this.peek() === 0x2c) this.i++;
  }
  token(): string {
    const start = this.i;
    while (isTchar(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }
  quoted(): string | null {
    if (this.peek() !== 0x22) return null;
    this.i++;
    let out = "";
    for (;;) {
      const c = this.peek();
      if (c === -1) return null;
      this.i++;
      if (c === 0x22) return out;
      if (c === 0x5c) {
        const next = this.peek();
        if (next === -1 || !isQuotable(next)) return null;
        this.i++;
        out += String.fromCharCode(next);
      } else if (isQuotable(c)) {
        out += String.fromCharCode(c);
      } else {
        return null;
      }
    }
  }
}

/** After a scheme and its space: a token68, when what follows is one and ends the challenge. */
function token68At(cur: Cursor): string | undefined {
  let j = cur.i;
  const s = cur.s;
  while (j < s.length && isToken68Char(s.charCodeAt(j))) j++;
  if (j === cur.i) return undefined;
  while (j < s.length && s.charCodeAt(j) === 0x3d) j++;
  let k = j;
  while (k < s.length && isWs(s.charCodeAt(k))) k++;
  if (k < s.length && s.charCodeAt(k) !== 0x2c) return undefined;
  const value = s.slice(cur.i, j);
  cur.i = k;
  return value;
}

/** At a token followed by BWS "=" (and not "==", a token68's padding): an auth-param starts here. */
function paramStartsAt(cur: Cursor): boolean {
  let j = cur.i;
  const s = cur.s;
  while (j < s.length && isTchar(s.charCodeAt(j))) j++;
  if (j === cur.i) return false;
  while (j < s.length && isWs(s.charCodeAt(j))) j++;
  return s.charCodeAt(j) === 0x3d && s.charCodeAt(j + 1) !== 0x3d;
}

/**
 * Parses a `WWW-Authenticate` value (several headers joined with ", " are one list) into its
 * challenges. `null` when it does not follow the grammar, a challenge repeats a parameter, or
 * the value is too long.
 */
export function parseWwwAuthenticate(header: string): ParsedChallenge[] | null {
  if (typeof header !== "string" || header.length > MAX_CHALLENGE_HEADER_LENGTH) return null;
  const cur = new Cursor(header);
  const out: ParsedChallenge[] = [];
  cur.skipSeparators();
  while (!cur.atEnd()) {
    const scheme = cur.token();
    if (scheme === "") return null;
    const params: Record<string, string> = Object.create(null) as Record<string, string>;
    let token68: string | undefined;
    const hadSpace = isWs(cur.peek());
    cur.skipWs();
    if (hadSpace && !cur.atEnd() && cur.peek() !== 0x2c) {
      if (paramStartsAt(cur)) {
        for (;;) {
          const name = cur.token().toLowerCase();
          cur.skipWs();
          cur.i++; // "=", checked by paramStartsAt
          cur.skipWs();
          let value: string | null;
          if (cur.peek() === 0x22) value = cur.quoted();
          else {
            value = cur.token();
            if (value === "") return null;
          }
          if (value === null) return null;
          if (Object.prototype.hasOwnProperty.call(params, name)) return null;
          params[name] = value;
          cur.skipWs();
          if (cur.atEnd()) break;
          if (cur.peek() !== 0x2c) return null;
          cur.skipSeparators();
          if (cur.atEnd() || !paramStartsAt(cur)) break; // the next challenge, or the end
        }
      } else {
        token68 = token68At(cur);
        if (token68 === undefined) return null;
      }
    }
    out.push(token68 === undefined ? { scheme, params } : { scheme, params, token68 });
    cur.skipSeparators();
  }
  return out;
}

/**
 * The first Bearer challenge in a `WWW-Authenticate` value, or `undefined` when there is none or
 * the value does not parse.
 */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (header === null || header === undefined) return undefined;
  const challenge = parseWwwAuthenticate(header)?.find((c) => c.scheme.toLowerCase() === "bearer");
  if (challenge === undefined) return undefined;
  const p = challenge.params;
  const result: { -readonly [K in keyof BearerChallenge]: BearerChallenge[K] } = {
    scope: p.scope === undefined ? [] : p.scope.split(" ").filter((s) => s !== ""),
  };
  if (p.realm !== undefined) result.realm = p.realm;
  if (p.error !== undefined) result.error = p.error;
  if (p.error_description !== undefined) result.errorDescription = p.error_description;
  if (p.error_uri !== undefined) result.errorUri = p.error_uri;
  if (p.resource_metadata !== undefined) result.resourceMetadata = p.resource_metadata;
  return result;
}
