/**
 * `agentwrit-guard inspect [token | -]`: decodes a token and explains it, UNVERIFIED. What the
 * guard would say about its shape comes from core's own strict parsing (`parseCompactJws`,
 * `checkClaimTypes`, `checkTimes`); the display only decodes. It prints claims, never the token
 * or its signature.
 */
import { isoSeconds, jsonText, NAME, parseCommandArgs, readToken, relative, rows, show, duration, type Outcome } from "./cli-io.js";
import { checkClaimTypes, checkTimes, trustDomainOf, type AgentWritClaims } from "./claims.js";
import { computeChainHash, parseScope } from "./index.js";
import { parseCompactJws } from "./jws.js";
import { Refusal } from "./refusal.js";

export const INSPECT_USAGE = `Usage: ${NAME} inspect [token | -] [--json]

Decodes a token and explains it: header, claims, times (UTC and relative to now), scopes and the
delegation chain. UNVERIFIED: the signature is not checked and the broker is not asked (use
\`${NAME} check\` for that). The token itself and its signature are never printed.

Pipe the token on stdin (no argument, or -): an argument is visible to other users in \`ps\`
and stays in shell history.
  printf %s "$TOKEN" | ${NAME} inspect

  --json       one JSON object for scripts
  -h, --help   show this help

Exit status: 0 well formed (whatever its times), 1 the guard would refuse it as malformed, 2 usage.`;

type Json = Record<string, unknown>;

/** Loose decoding for display only: base64url JSON object, or `undefined`. The verdict is core's. */
function decodeSegment(segment: string | undefined): Json | undefined {
  if (segment === undefined || segment === "") return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

interface Verdict {
  readonly wellFormed: boolean;
  readonly refusal: { readonly code: string; readonly reason: string | undefined } | undefined;
  readonly claims: AgentWritClaims | undefined;
}

/** Core's strict reading of the token's shape and claim types, as every guard mode applies it. */
function strictVerdict(token: string): Verdict {
  try {
    const parsed = parseCompactJws(token, true);
    const claims = checkClaimTypes(parsed.payload ?? {});
    return { wellFormed: true, refusal: undefined, claims };
  } catch (e) {
    if (e instanceof Refusal) return { wellFormed: false, refusal: { code: e.code, reason: e.reason }, claims: undefined };
    throw e;
  }
}

interface TimeReport {
  readonly now: string;
  readonly issuedAt: string | undefined;
  readonly notBefore: string | undefined;
  readonly expiresAt: string | undefined;
  readonly lifetimeSec: number | undefined;
  /** Core's time rule, without clock tolerance (a guard allows `clockToleranceSec`, 5 s by default). */
  readonly status: "valid" | "expired" | "not_yet_valid" | "unknown";
  readonly reason: string | undefined;
}

const intOf = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) ? v : undefined);

function timeReport(raw: Json, claims: AgentWritClaims | undefined, nowSec: number): TimeReport {
  const iat = intOf(raw.iat);
  const exp = intOf(raw.exp);
  let status: TimeReport["status"] = "unknown";
  let reason: string | undefined;
  if (claims !== undefined) {
    try {
      checkTimes(claims, nowSec, 0);
      status = "valid";
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      status = e.code === "token_expired" ? "expired" : "not_yet_valid";
      reason = e.reason;
    }
  }
  return {
    now: isoSeconds(nowSec) ?? "",
    issuedAt: iat === undefined ? undefined : isoSeconds(iat),
    notBefore: intOf(raw.nbf) === undefined ? undefined : isoSeconds(intOf(raw.nbf) ?? 0),
    expiresAt: exp === undefined ? undefined : isoSeconds(exp),
    lifetimeSec: iat !== undefined && exp !== undefined ? exp - iat : undefined,
    status,
    reason,
  };
}

interface ScopeReport {
  readonly scope: string;
  readonly valid: boolean;
  readonly action?: string;
  readonly resource?: string;
  readonly identifier?: string;
}

function scopeReport(raw: unknown): ScopeReport[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  return raw.map((s: unknown) => {
    const text = typeof s === "string" ? s : JSON.stringify(s);
    const parsed = typeof s === "string" ? parseScope(s) : null;
    return parsed === null ? { scope: text, valid: false } : { scope: text, valid: true, ...parsed };
  });
}

interface DelegationReport {
  readonly depth: number;
  readonly chainHash: { readonly claimed: string | undefined; readonly computed: string; readonly matches: boolean } | undefined;
  readonly records: readonly {
    readonly agent: string;
    readonly scope: readonly string[];
    readonly delegatedAt: string;
    readonly signaturePresent: boolean;
  }[];
}

async function delegationReport(claims: AgentWritClaims | undefined): Promise<DelegationReport | undefined> {
  const chain = claims?.delegation_chain;
  if (chain === undefined) return undefined;
  const computed = await computeChainHash(chain);
  return {
    depth: chain.length,
    chainHash: { claimed: claims?.chain_hash, computed, matches: claims?.chain_hash === computed },
    records: chain.map((r) => ({ agent: r.agent, scope: r.scope, delegatedAt: r.delegated_at, signaturePresent: r.signature !== undefined && r.signature !== "" })),
  };
}

/** Everything `inspect` reports, as the JSON output holds it. */
export interface Inspection {
  readonly verified: false;
  readonly wellFormed: boolean;
  readonly refusal: Verdict["refusal"];
  readonly header: Json | undefined;
  readonly claims: Json | undefined;
  /** Whether a third segment is there; its shape is part of core's verdict. Never printed. */
  readonly signaturePresent: boolean;
  readonly subject: { readonly id: string; readonly agent: boolean; readonly trustDomain: string | undefined } | undefined;
  readonly time: TimeReport | undefined;
  readonly scopes: readonly ScopeReport[] | undefined;
  readonly delegation: DelegationReport | undefined;
}

export async function inspectToken(token: string, nowSec: number): Promise<Inspection> {
  const segments = token.split(".");
  const header = decodeSegment(segments[0]);
  const claims = segments.length >= 2 ? decodeSegment(segments[1]) : undefined;
  const signature = segments.length === 3 ? (segments[2] ?? "") : "";
  const verdict = strictVerdict(token);
  const sub = verdict.claims?.sub ?? (typeof claims?.sub === "string" ? claims.sub : undefined);
  return {
    verified: false,
    wellFormed: verdict.wellFormed,
    refusal: verdict.refusal,
    header,
    claims,
    signaturePresent: signature !== "",
    subject: sub === undefined ? undefined : { id: sub, agent: trustDomainOf(sub) !== undefined, trustDomain: trustDomainOf(sub) },
    time: claims === undefined ? undefined : timeReport(claims, verdict.claims, nowSec),
    scopes: scopeReport(claims?.scope),
    delegation: await delegationReport(verdict.claims),
  };
}

/** A claim value for display: strings as they are (escaped), anything else as JSON. */
function value(v: unknown): string {
  if (typeof v === "string") return v === "" ? '"" (empty)' : show(v);
  return show(JSON.stringify(v)); // v came from JSON.parse: never undefined or a function
}

function when(iso: string | undefined, sec: unknown, nowSec: number): string {
  const n = intOf(sec);
  if (iso === undefined || n === undefined) return value(sec);
  return `${iso}  (${relative(n - nowSec)})`;
}

const KNOWN_HEADER = ["alg", "typ", "kid"];
const SHOWN_CLAIMS = ["sub", "iss", "aud", "jti", "sid", "orch_id", "task_id", "iat", "nbf", "exp", "scope", "delegation_chain", "chain_hash"];

function textReport(r: Inspection, nowSec: number): string {
  const out: string[] = [
    `UNVERIFIED: decoded only. The signature was not checked and the broker was not asked; run \`${NAME} check\` to verify.`,
    "",
  ];
  if (r.header === undefined) {
    out.push("Header: not decodable (not base64url JSON)");
  } else {
    const h = r.header;
    const entries: [string, string][] = KNOWN_HEADER.filter((k) => k in h).map((k) => [k, value(h[k])]);
    for (const k of Object.keys(h).filter((k) => !KNOWN_HEADER.includes(k))) entries.push([show(k), `${value(h[k])}  (not read by the broker)`]);
    entries.push(["signature", r.signaturePresent ? "present (not shown, not checked)" : "absent"]);
    out.push("Header", ...rows(entries));
  }
  out.push("");
  const c = r.claims;
  if (c === undefined) {
    out.push("Claims: not decodable (not base64url JSON)");
  } else {
    const entries: [string, string][] = [];
    const subject = r.subject;
    if ("sub" in c) {
      const kind = subject === undefined ? "" : subject.agent ? `  (agent, trust domain ${show(subject.trustDomain ?? "")})` : "  (not an agent SPIFFE ID: an admin or app token, refused unless allowNonAgentSubjects)";
      entries.push(["sub", value(c.sub) + kind]);
    }
    if ("iss" in c) entries.push(["iss", c.iss === "" ? '"" (empty: the broker\'s default when AA_ISSUER is unset)' : value(c.iss)]);
    else entries.push(["iss", "absent (read as \"\")"]);
    if ("aud" in c) entries.push(["aud", Array.isArray(c.aud) && c.aud.every((a) => typeof a === "string") ? c.aud.map(show).join(", ") : value(c.aud)]);
    for (const k of ["jti", "sid", "orch_id", "task_id"]) if (k in c) entries.push([k, value(c[k])]);
    const t = r.time;
    if (t !== undefined) {
      if ("iat" in c) entries.push(["iat", when(t.issuedAt, c.iat, nowSec)]);
      if ("nbf" in c) entries.push(["nbf", when(t.notBefore, c.nbf, nowSec)]);
      if ("exp" in c) entries.push(["exp", when(t.expiresAt, c.exp, nowSec)]);
      if (t.lifetimeSec !== undefined) entries.push(["lifetime", duration(t.lifetimeSec)]);
      const status =
        t.status === "valid" ? "valid now (a guard also allows clockToleranceSec, 5 s by default)" : t.status === "unknown" ? "unknown (the claims are malformed)" : `${t.status === "expired" ? "EXPIRED" : "NOT YET VALID"}: ${t.reason ?? ""}`;
      entries.push(["status", status]);
    }
    if ("chain_hash" in c) entries.push(["chain_hash", value(c.chain_hash)]);
    for (const k of Object.keys(c).filter((k) => !SHOWN_CLAIMS.includes(k))) entries.push([show(k), `${value(c[k])}  (not a broker claim)`]);
    out.push("Claims", ...rows(entries));
    out.push("");
    if (r.scopes === undefined) {
      out.push(`Scope: ${"scope" in c ? `not a list: ${value(c.scope)}` : "absent"}`);
    } else {
      out.push(`Scope (${String(r.scopes.length)})`);
      out.push(
        ...rows(
          r.scopes.map((s): [string, string] => [
            show(s.scope),
            s.valid ? `${show(s.action ?? "")} · ${show(s.resource ?? "")} · ${s.identifier === "*" ? "* (any identifier)" : show(s.identifier ?? "")}` : "NOT a valid action:resource:identifier",
          ]),
        ),
      );
    }
  }
  const d = r.delegation;
  if (d !== undefined) {
    const hash = d.chainHash === undefined ? "" : d.chainHash.matches ? "chain_hash matches the chain" : d.chainHash.claimed === undefined ? "no chain_hash" : "chain_hash does NOT match the chain";
    out.push("", `Delegation chain (depth ${String(d.depth)}; ${hash}; record signatures not checked)`);
    d.records.forEach((rec, i) => {
      const at = Date.parse(rec.delegatedAt);
      const ago = Number.isNaN(at) ? "" : `  (${relative(at / 1000 - nowSec)})`;
      out.push(`  ${String(i + 1)}. ${show(rec.agent)}`, `     delegated ${show(rec.delegatedAt)}${ago}`, `     scope ${rec.scope.map(show).join(", ")}`);
      if (!rec.signaturePresent) out.push("     no signature");
    });
    if (r.subject !== undefined) out.push(`  → ${show(r.subject.id)}  (this token's subject)`);
  } else if (c !== undefined && "delegation_chain" in c && !r.wellFormed) {
    out.push("", `Delegation chain: ${value(c.delegation_chain)}`);
  }
  out.push(
    "",
    r.wellFormed
      ? "Structure: well formed (core's strict parsing accepts the header and the claims)"
      : `Structure: REFUSED as ${r.refusal?.code ?? "malformed_token"}: ${show(r.refusal?.reason ?? "")}`,
  );
  return out.join("\n") + "\n";
}

export async function inspect(argv: readonly string[]): Promise<Outcome | "help"> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, 1, INSPECT_USAGE);
  if (values.help === true) return "help";
  const token = await readToken(positionals[0], INSPECT_USAGE);
  const nowSec = Math.floor(Date.now() / 1000);
  const report = await inspectToken(token, nowSec);
  return { stdout: values.json === true ? jsonText(report) : textReport(report, nowSec), exitCode: report.wellFormed ? 0 : 1 };
}
