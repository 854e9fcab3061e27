/**
 * Tokens for the conformance table. Wherever the dev broker can produce a case it does (over its
 * own HTTP API); the rest are minted with the dev broker's own signing key (passed to it as
 * `signingKey`), or with an attacker key, and the table says which.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { computeChainHash, delegationSigningInput, formatRfc3339Nano, type DelegationRecord } from "@agentwrit/guard";
import { startDevBroker, type DevBroker, type DevBrokerOptions } from "@agentwrit/dev-broker";
import { b64url, makeKey } from "../support/tokens.js";

export const AUDIENCE = "conformance-api";
export const SCOPE = ["read:data:customer-42", "write:data:order-7"];

export interface Tokens {
  readonly [name: string]: string;
}

const pkcs8 = (key: KeyObject): string => key.export({ format: "pem", type: "pkcs8" }).toString();
const payloadOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

/** Replaces the header of a real token, keeping its payload and signature. */
const withHeader = (token: string, header: Record<string, unknown>): string => {
  const [, payload, sig] = token.split(".");
  return `${b64url(header)}.${payload ?? ""}.${sig ?? ""}`;
};

function signWith(key: KeyObject, kid: string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64url({ alg: "EdDSA", typ: "JWT", kid, ...header })}.${b64url(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

function signedRecord(key: KeyObject, agent: string, scope: string[]): DelegationRecord {
  const unsigned = { agent, scope, delegated_at: formatRfc3339Nano(new Date()) };
  return { ...unsigned, signature: sign(null, Buffer.from(delegationSigningInput(unsigned)), key).toString("hex") };
}

export interface Fixture {
  readonly broker: DevBroker;
  /** The main broker's signing key, for tokens the broker will not issue (test/security mints more). */
  readonly signingKey: KeyObject;
  readonly tokens: Tokens;
  close(): Promise<void>;
}

/** Starts the main broker (and short-lived variants sharing its key) and produces every token. */
export async function setUpTokens(): Promise<Fixture> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const signingKey = pkcs8(privateKey);
  const base: DevBrokerOptions = { signingKey, audience: AUDIENCE };
  const broker = await startDevBroker(base);
  const variants: DevBroker[] = [];
  /** An agent token from a broker variant that shares the main broker's signing key. */
  const fromVariant = async (options: DevBrokerOptions, taskId: string): Promise<string> => {
    const b = await startDevBroker({ ...base, ...options });
    variants.push(b);
    return (await b.createAgent({ orchId: "orch-1", taskId, scope: SCOPE })).accessToken;
  };
  const agent = (taskId: string, scope = SCOPE) => broker.createAgent({ orchId: "orch-1", taskId, scope });
  const hour = 3600_000;

  const ok = await agent("task-ok");
  const other = await agent("task-other");
  const [released, renewed, revToken, revAgent, revTask] = await Promise.all([
    agent("task-released"),
    agent("task-renewed"),
    agent("task-rev-token"),
    agent("task-rev-agent"),
    agent("task-rev-task"),
  ]);
  // Delegation: root → mid (depth 1) → leaf (depth 2); and a second root whose chain is revoked.
  const root = await agent("task-deleg");
  const mid = await agent("task-deleg");
  const leaf = await agent("task-deleg");
  const d1 = await broker.delegate(root.accessToken, { delegateTo: mid.agentId, scope: ["read:data:customer-42"] });
  const d2 = await broker.delegate(d1.accessToken, { delegateTo: leaf.agentId, scope: ["read:data:customer-42"] });
  const chainRoot = await agent("task-chain");
  const chainDelegate = await agent("task-chain-2");
  const chained = await broker.delegate(chainRoot.accessToken, { delegateTo: chainDelegate.agentId, scope: ["read:data:customer-42"] });

  await broker.release(released.accessToken);
  await broker.renew(renewed.accessToken);
  await broker.revoke("token", String(payloadOf(revToken.accessToken).jti));
  await broker.revoke("agent", revAgent.agentId);
  await broker.revoke("task", "task-rev-task");
  await broker.revoke("chain", chainRoot.agentId);

  const app = await broker.registerApp({ name: "conformance", scopes: ["read:data:*"] });
  const appAuth = await fetch(broker.url + "/v1/app/auth", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_id: app.clientId, client_secret: app.clientSecret }),
  });
  const appToken = ((await appAuth.json()) as { access_token: string }).access_token;

  // Minted with the broker's own key: shapes the broker refuses to issue.
  const claims = payloadOf(ok.accessToken);
  const kid = broker.kid;
  const widenedChain = [signedRecord(privateKey, root.agentId, ["read:data:customer-42"])];
  const goodChain = [signedRecord(privateKey, root.agentId, SCOPE)];
  const forgedRecord = [signedRecord(makeKey().privateKey, root.agentId, SCOPE)];
  const attacker = makeKey();

  const tokens: Tokens = {
    ok: ok.accessToken,
    other: other.accessToken,
    delegated: d1.accessToken,
    tooDeep: d2.accessToken,
    released: released.accessToken,
    renewed: renewed.accessToken,
    revokedToken: revToken.accessToken,
    revokedAgent: revAgent.accessToken,
    revokedTask: revTask.accessToken,
    revokedChain: chained.accessToken,
    admin: broker.adminToken(),
    app: appToken,
    expired: await fromVariant({ now: () => BigInt(Date.now() - hour) * 1_000_000n }, "task-expired"),
    notYetValid: await fromVariant({ now: () => BigInt(Date.now() + hour) * 1_000_000n }, "task-future"),
    wrongAudience: await fromVariant({ audience: "another-api" }, "task-aud"),
    noAudience: await fromVariant({ audience: "" }, "task-noaud"),
    wrongIssuer: await fromVariant({ issuer: "https://rogue.example" }, "task-iss"),
    wrongTrustDomain: await fromVariant({ trustDomain: "rogue.local" }, "task-td"),
    otherKey: await (async () => {
      const b = await startDevBroker({ audience: AUDIENCE });
      variants.push(b);
      return (await b.createAgent({ orchId: "orch-1", taskId: "task-kid", scope: SCOPE })).accessToken;
    })(),
    // Header rewrites of a genuine token (payload and signature unchanged).
    algNone: withHeader(ok.accessToken, { alg: "none", typ: "JWT", kid }),
    algNoneUnsigned: withHeader(ok.accessToken, { alg: "none", typ: "JWT" }).replace(/[^.]+$/, ""),
    algHS256: withHeader(ok.accessToken, { alg: "HS256", typ: "JWT", kid }),
    algRS256: withHeader(ok.accessToken, { alg: "RS256", typ: "JWT", kid }),
    algES256: withHeader(ok.accessToken, { alg: "ES256", typ: "JWT", kid }),
    algLowercase: withHeader(ok.accessToken, { alg: "eddsa", typ: "JWT", kid }),
    algMissing: withHeader(ok.accessToken, { typ: "JWT", kid }),
    kidRewritten: withHeader(ok.accessToken, { alg: "EdDSA", typ: "JWT", kid: attacker.kid }),
    // Genuine header and payload, the signature of another genuine token.
    swappedSignature: ok.accessToken.replace(/[^.]+$/, other.accessToken.split(".")[2] ?? ""),
    attackerSigned: signWith(attacker.privateKey, kid, claims),
    crit: signWith(privateKey, kid, claims, { crit: ["exp"] }),
    malformedClaims: signWith(privateKey, kid, { ...claims, scope: "read:data:customer-42" }),
    widened: signWith(privateKey, kid, {
      ...claims,
      scope: ["read:data:customer-42", "write:data:order-7"],
      delegation_chain: widenedChain,
      chain_hash: await computeChainHash(widenedChain),
    }),
    badChainHash: signWith(privateKey, kid, {
      ...claims,
      scope: ["read:data:customer-42"],
      delegation_chain: goodChain,
      chain_hash: "0".repeat(64),
    }),
    forgedRecord: signWith(privateKey, kid, {
      ...claims,
      scope: ["read:data:customer-42"],
      delegation_chain: forgedRecord,
      chain_hash: await computeChainHash(forgedRecord),
    }),
  };
  return {
    broker,
    signingKey: privateKey,
    tokens,
    close: async () => {
      await Promise.all([broker, ...variants].map((b) => b.close()));
    },
  };
}
