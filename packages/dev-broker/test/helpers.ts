/** Shared test helpers: raw HTTP calls against a running dev broker, and token surgery. */
import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import type { DevBroker } from "../src/index.js";

/** Parsed JSON of unknown shape (tests read fields freely). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  readonly json: Json;
}

export interface CallOptions {
  readonly token?: string;
  /** A string is sent verbatim; anything else is JSON-encoded. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export async function call(broker: DevBroker, method: string, path: string, o: CallOptions = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined) headers.Authorization = "Bearer " + o.token;
  const init: RequestInit = { method, headers };
  if (o.body !== undefined) init.body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const res = await fetch(broker.url + path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The exact problem+json body the broker writes. */
export function problemText(status: number, title: string, code: string, detail: string, instance: string, requestId: string): string {
  return (
    JSON.stringify({ type: "urn:agentwrit:error:" + code, title, status, detail, instance, error_code: code, request_id: requestId }) + "\n"
  );
}

/** Asserts a problem response and returns its body. */
export function expectProblem(r: RawResponse, status: number, code: string, detail: string): Json {
  if (r.status !== status || r.json?.error_code !== code || r.json?.detail !== detail) {
    throw new Error(`expected ${status} ${code} "${detail}", got ${r.status} ${r.text}`);
  }
  if (r.headers.get("content-type") !== "application/problem+json") throw new Error("not problem+json: " + String(r.headers.get("content-type")));
  if (r.json.type !== "urn:agentwrit:error:" + code) throw new Error("bad type " + String(r.json.type));
  if (r.json.request_id !== r.headers.get("x-request-id")) throw new Error("request_id does not echo X-Request-ID");
  if (!r.text.endsWith("}\n")) throw new Error("missing trailing newline");
  return r.json;
}

export const b64url = (x: string | Uint8Array): string => Buffer.from(x).toString("base64url");

export function decodeSegment(seg: string): Json {
  return JSON.parse(Buffer.from(seg, "base64url").toString("utf8"));
}

export function decodePayload(token: string): Json {
  return decodeSegment(token.split(".")[1]!);
}

/** Builds a token from raw header and payload JSON text, signed with `key`. */
export function forge(key: KeyObject, headerJson: string, payloadJson: string): string {
  const input = b64url(headerJson) + "." + b64url(payloadJson);
  return input + "." + b64url(sign(null, Buffer.from(input), key));
}

/** The RFC 8037 Appendix A.1 key pair. */
export const RFC8037_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
-----END PRIVATE KEY-----
`;
export const RFC8037_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
-----END PUBLIC KEY-----
`;
export const RFC8037_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
export const rfc8037Key = (): KeyObject => createPrivateKey(RFC8037_PRIVATE_PEM);

/** Registers an app through the admin API and returns an app token for it. */
export async function appToken(broker: DevBroker, name: string, scopes: string[]): Promise<{ token: string; appId: string; clientId: string; clientSecret: string }> {
  const app = await broker.registerApp({ name, scopes });
  const r = await call(broker, "POST", "/v1/app/auth", { body: { client_id: app.clientId, client_secret: app.clientSecret }, headers: { "X-Forwarded-For": "app-" + name } });
  if (r.status !== 200) throw new Error("app auth failed: " + r.text);
  return { token: r.json.access_token, appId: app.appId, clientId: app.clientId, clientSecret: app.clientSecret };
}

/** A mutable clock for the `now` option, in whole seconds unless set in nanoseconds. */
export class TestClock {
  ns: bigint;
  delegatedAtNs: bigint | undefined;
  constructor(seconds: number) {
    this.ns = BigInt(seconds) * 1_000_000_000n;
  }
  set seconds(s: number) {
    this.ns = BigInt(s) * 1_000_000_000n;
  }
  readonly now = (use: "now" | "delegated_at"): bigint => (use === "delegated_at" && this.delegatedAtNs !== undefined ? this.delegatedAtNs : this.ns);
}
