/**
 * Agent registration with a launch token (Part C.2 steps 3–6): `GET /v1/challenge`, the Ed25519
 * signature over the hex-decoded nonce, `POST /v1/register`.
 */
import { isValidScope } from "@agentwrit/guard";
import { Agent, checkFetchOptions, type AgentFetchOptions } from "./agent.js";
import { publicKeyBase64, resolveAgentKey, signNonce, type AgentKey } from "./crypto.js";
import { AgentWritError } from "./errors.js";
import { BrokerConnection, intField, objectBody, stringField, type BrokerOptions } from "./http.js";
import { readTokenFacts } from "./token-ops.js";

/** The agent to register: SPIFFE path segments, the scope, and optionally its key. */
export interface AgentRequest extends AgentFetchOptions {
  /** The orchestrator's id: a SPIFFE path segment (`[A-Za-z0-9._-]+`, not "." or ".."). */
  readonly orchId: string;
  /** The task's id: a SPIFFE path segment. */
  readonly taskId: string;
  /** Scopes `action:resource:identifier`, within the launch token's (and the app's) ceiling. */
  readonly scope: readonly string[];
  /** The agent's Ed25519 key: a pair, or an extractable private key. Default: a fresh pair. */
  readonly privateKey?: AgentKey;
}

/** `registerAgent` options: a launch token obtained elsewhere (an operator, an orchestrator). */
export interface RegisterAgentOptions extends AgentRequest, BrokerOptions {
  readonly brokerUrl: string;
  readonly launchToken: string;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Refuses what the broker could only refuse after consuming the nonce and launch token (an
 * invalid SPIFFE segment is a 500 there) or never grant (a malformed or empty scope), and fetch
 * options that could not be used: all before any request.
 */
export function checkAgentRequest(request: AgentRequest): void {
  for (const [name, value] of [["orchId", request.orchId], ["taskId", request.taskId]] as const) {
    if (typeof value !== "string" || !SEGMENT.test(value) || value === "." || value === "..") {
      throw new AgentWritError(`${name} must be a SPIFFE path segment: letters, digits, ".", "_" or "-", and not "." or ".."`);
    }
  }
  if (!Array.isArray(request.scope) || request.scope.length === 0) throw new AgentWritError("scope must list at least one scope");
  for (const s of request.scope) {
    if (!isValidScope(s)) throw new AgentWritError(`scope ${JSON.stringify(s)} is not action:resource:identifier with three non-empty parts`);
  }
  checkFetchOptions(request);
}

const CHALLENGE = "/v1/challenge";
const REGISTER = "/v1/register";

/** Steps 3–6 with a key pair already resolved. */
export async function registerWith(conn: BrokerConnection, launchToken: string, request: AgentRequest, keyPair: CryptoKeyPair): Promise<Agent> {
  const nonce = stringField(objectBody(await conn.call("GET", CHALLENGE), CHALLENGE), "nonce", CHALLENGE);
  const body = {
    launch_token: launchToken,
    nonce,
    public_key: await publicKeyBase64(keyPair),
    signature: await signNonce(keyPair, nonce),
    orch_id: request.orchId,
    task_id: request.taskId,
    requested_scope: request.scope,
  };
  const answer = objectBody(await conn.call("POST", REGISTER, { body }), REGISTER);
  const accessToken = stringField(answer, "access_token", REGISTER);
  const expiresIn = intField(answer, "expires_in", REGISTER);
  return new Agent({
    conn,
    issued: { accessToken, expiresIn, expiresAt: new Date(Date.now() + expiresIn * 1000) },
    agentId: stringField(answer, "agent_id", REGISTER),
    orchId: request.orchId,
    taskId: request.taskId,
    scope: readTokenFacts(accessToken, REGISTER).scope,
    keyPair,
    fetchOptions: request,
  });
}

/**
 * Registers an agent with a launch token someone else created (`POST /v1/admin/launch-tokens` or
 * `/v1/app/launch-tokens`). `AgentWritApp.createAgent` does the same after getting its own.
 */
export async function registerAgent(options: RegisterAgentOptions): Promise<Agent> {
  const conn = new BrokerConnection(options.brokerUrl, options);
  checkAgentRequest(options);
  if (typeof options.launchToken !== "string" || options.launchToken === "") throw new AgentWritError("launchToken is required");
  return registerWith(conn, options.launchToken, options, await resolveAgentKey(options.privateKey));
}
