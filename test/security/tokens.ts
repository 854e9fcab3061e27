/**
 * Attack tokens for the security suite, built on the conformance fixture (test/conformance/fixtures.ts):
 * its genuine dev-broker tokens, its broker signing key, and an attacker's own keys. Payload and
 * header bytes are written by hand where JSON.stringify could not produce them (duplicate keys,
 * non-object JSON).
 */
import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { computeChainHash, delegationSigningInput, formatRfc3339Nano, type DelegationRecord } from "@agentwrit/guard";
import { b64url, makeKey, type TestKey } from "../support/tokens.js";

export const enc = (bytes: string | Buffer): string => Buffer.from(bytes).toString("base64url");

/** Signs raw header and payload text (already JSON, or deliberately not) with an Ed25519 key. */
export function signRaw(headerText: string | Buffer, payloadText: string | Buffer, key: KeyObject): string {
  const input = `${enc(headerText)}.${enc(payloadText)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

export const payloadOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

export interface Minter {
  /** The broker key's kid. */
  readonly kid: string;
  readonly attacker: TestKey;
  /** Ed25519 with the broker's key, header {alg, typ, kid} plus `header`. */
  broker(payload: unknown, header?: Record<string, unknown>): string;
  /** Ed25519 with the attacker's key, claiming the broker's kid unless `header` says otherwise. */
  forged(payload: unknown, header?: Record<string, unknown>): string;
  /** Raw texts signed by the broker key. */
  brokerRaw(headerText: string | Buffer, payloadText: string | Buffer): string;
  /** A delegation record signed by `key` (the broker's unless given). */
  record(agent: string, scope: string[], key?: KeyObject): DelegationRecord;
  /** `chain_hash` of a chain. */
  chainHash(chain: readonly DelegationRecord[]): Promise<string>;
  /** HS256 keyed with `secret` (e.g. the broker's public key bytes). */
  hs256(payload: unknown, secret: string | Buffer): string;
  /** RS256 with an attacker RSA key. */
  rs256(payload: unknown): string;
}

export function minter(brokerKey: KeyObject, kid: string): Minter {
  const attacker = makeKey();
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  let rsa: KeyObject | undefined;
  return {
    kid,
    attacker,
    broker: (payload, header = {}) => signRaw(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid, ...header }), text(payload), brokerKey),
    forged: (payload, header = {}) => signRaw(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid, ...header }), text(payload), attacker.privateKey),
    brokerRaw: (h, p) => signRaw(h, p, brokerKey),
    record: (agent, scope, key = brokerKey) => {
      const unsigned = { agent, scope, delegated_at: formatRfc3339Nano(new Date()) };
      return { ...unsigned, signature: sign(null, Buffer.from(delegationSigningInput(unsigned)), key).toString("hex") };
    },
    chainHash: (chain) => computeChainHash(chain),
    hs256: (payload, secret) => {
      const input = `${b64url({ alg: "HS256", typ: "JWT", kid })}.${enc(text(payload))}`;
      return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
    },
    rs256: (payload) => {
      rsa ??= generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      const input = `${b64url({ alg: "RS256", typ: "JWT", kid })}.${enc(text(payload))}`;
      return `${input}.${sign("sha256", Buffer.from(input), rsa).toString("base64url")}`;
    },
  };
}
