/** Appendix 1: fixtures computed from the RFC 8037 test key, reproduced end to end. */
import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeChainHash, delegationSigningInput, goJsonChain } from "@agentwrit/guard";
import { startDevBroker, type DevBroker } from "../src/index.js";
import { call, decodeSegment, RFC8037_KID, RFC8037_PRIVATE_PEM, RFC8037_PUBLIC_PEM, TestClock } from "./helpers.js";

const HEADER_SEGMENT =
  "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsifQ";
const AGENT_A = "spiffe://agentwrit.local/agent/orch-1/task-1/aaaaaaaaaaaaaaaa";
const AGENT_B = "spiffe://agentwrit.local/agent/orch-1/task-2/bbbbbbbbbbbbbbbb";
const DELEGATED_AT = "2026-04-14T20:26:27.257796884Z";
const RECORD_SIG =
  "f3232a82349050178142ffba339c0820296d8a16427f41a037728bc87600beebffb2949c09982d1418e8a928d590ce0950a057999b6fc0e4722dafa57069a109";
const CHAIN_HASH = "b7b4f3d37c4000776ff0b708bff68d5db36f6e0639185e84ce60d0ad6a2fbb12";
const FIXTURE_TOKEN =
  "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsifQ.eyJpc3MiOiIiLCJzdWIiOiJzcGlmZmU6Ly9hZ2VudHdyaXQubG9jYWwvYWdlbnQvb3JjaC0xL3Rhc2stMi9iYmJiYmJiYmJiYmJiYmJiIiwiZXhwIjoyMDAwMDAwMDYwLCJuYmYiOjIwMDAwMDAwMDAsImlhdCI6MjAwMDAwMDAwMCwianRpIjoiMDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmYiLCJzY29wZSI6WyJyZWFkOmRhdGE6KiJdLCJ0YXNrX2lkIjoidGFzay0xIiwib3JjaF9pZCI6Im9yY2gtMSIsImRlbGVnYXRpb25fY2hhaW4iOlt7ImFnZW50Ijoic3BpZmZlOi8vYWdlbnR3cml0LmxvY2FsL2FnZW50L29yY2gtMS90YXNrLTEvYWFhYWFhYWFhYWFhYWFhYSIsInNjb3BlIjpbInJlYWQ6ZGF0YToqIiwid3JpdGU6ZGF0YToqIl0sImRlbGVnYXRlZF9hdCI6IjIwMjYtMDQtMTRUMjA6MjY6MjcuMjU3Nzk2ODg0WiIsInNpZ25hdHVyZSI6ImYzMjMyYTgyMzQ5MDUwMTc4MTQyZmZiYTMzOWMwODIwMjk2ZDhhMTY0MjdmNDFhMDM3NzI4YmM4NzYwMGJlZWJmZmIyOTQ5YzA5OTgyZDE0MThlOGE5MjhkNTkwY2UwOTUwYTA1Nzk5OWI2ZmMwZTQ3MjJkYWZhNTcwNjlhMTA5In1dLCJjaGFpbl9oYXNoIjoiYjdiNGYzZDM3YzQwMDA3NzZmZjBiNzA4YmZmNjhkNWRiMzZmNmUwNjM5MTg1ZTg0Y2U2MGQwYWQ2YTJmYmIxMiJ9.e9PQKE5DW8kSUQpt8WG5ZLlrnCjlj5szDAtcxeyrU_UdQjBkX7cuQPfcV41oOixo1biq3kokpPVMqMvVihdnBg";

describe("Appendix 1 fixtures (RFC 8037 key)", () => {
  const clock = new TestClock(2_000_000_000);
  const instances = ["a".repeat(16), "b".repeat(16)];
  let forceJti: string | undefined;
  let broker: DevBroker;

  beforeAll(async () => {
    broker = await startDevBroker({
      signingKey: RFC8037_PRIVATE_PEM,
      now: clock.now,
      randomHex: (kind) => (kind === "agent_instance" ? instances.shift() : kind === "jti" ? forceJti : undefined),
    });
  });
  afterAll(() => broker.close());

  it("1.1: the kid and public key", () => {
    expect(broker.kid).toBe(RFC8037_KID);
    expect(broker.publicKeyPem).toBe(RFC8037_PUBLIC_PEM);
    expect(broker.publicKeyJwk).toMatchObject({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: RFC8037_KID });
  });

  it("1.3: record signature input, signature and chain_hash (core primitives, broker key)", async () => {
    const record = { agent: AGENT_A, scope: ["read:data:*", "write:data:*"], delegated_at: DELEGATED_AT };
    expect(delegationSigningInput(record)).toBe(`${AGENT_A}|read:data:*,write:data:*|${DELEGATED_AT}`);
    const pub = createPublicKey(RFC8037_PUBLIC_PEM);
    expect(verify(null, Buffer.from(delegationSigningInput(record)), pub, Buffer.from(RECORD_SIG, "hex"))).toBe(true);
    const chain = [{ ...record, signature: RECORD_SIG }];
    expect(goJsonChain(chain)).toBe(JSON.stringify(chain));
    expect(await computeChainHash(chain)).toBe(CHAIN_HASH);
  });

  it("1.2 + 1.4: the full delegated token, byte for byte, through the HTTP flow", async () => {
    const a = await broker.createAgent({ orchId: "orch-1", taskId: "task-1", scope: ["read:data:*", "write:data:*"] });
    const b = await broker.createAgent({ orchId: "orch-1", taskId: "task-2", scope: ["read:data:*"] });
    expect(a.agentId).toBe(AGENT_A);
    expect(b.agentId).toBe(AGENT_B);
    expect(a.accessToken.split(".")[0]).toBe(HEADER_SEGMENT);

    clock.delegatedAtNs = 1776198387257796884n; // 2026-04-14T20:26:27.257796884Z
    forceJti = "00112233445566778899aabbccddeeff";
    const d = await broker.delegate(a.accessToken, { delegateTo: b.agentId, scope: ["read:data:*"] });
    forceJti = undefined;

    expect(d.accessToken).toBe(FIXTURE_TOKEN);
    expect(d.expiresIn).toBe(60);
    expect(d.delegationChain).toEqual([{ agent: AGENT_A, scope: ["read:data:*", "write:data:*"], delegated_at: DELEGATED_AT, signature: RECORD_SIG }]);
    expect(decodeSegment(d.accessToken.split(".")[0]!)).toEqual({ alg: "EdDSA", typ: "JWT", kid: RFC8037_KID });

    // Valid for 2000000000 <= now <= 2000000060 under the broker's rules, no leeway.
    clock.seconds = 2_000_000_060;
    expect((await call(broker, "POST", "/v1/token/validate", { body: { token: FIXTURE_TOKEN } })).json.valid).toBe(true);
    clock.seconds = 2_000_000_061;
    expect((await call(broker, "POST", "/v1/token/validate", { body: { token: FIXTURE_TOKEN } })).json).toEqual({ valid: false, error: "token is invalid or expired" });
    clock.seconds = 1_999_999_999;
    expect((await call(broker, "POST", "/v1/token/validate", { body: { token: FIXTURE_TOKEN } })).json.valid).toBe(false);
  });
});
