/**
 * One agent side: the same scenario run by the official Python SDK (agentwrit 0.3.0) and by
 * @agentwrit/client against one dev broker leaves the same audit trail (event types, outcomes,
 * fields, details up to identifiers) and tokens with the same claims (up to identifiers and times).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AgentWritApp, ProblemResponseError, validate } from "@agentwrit/client";
import { startDevBroker, type DevBroker, type RegisteredApp } from "@agentwrit/dev-broker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payload } from "./support.js";

const venvPython = fileURLToPath(new URL("../../.python-venv/bin/python", import.meta.url));
const script = fileURLToPath(new URL("./fixtures/scenario.py", import.meta.url));
const skip = !existsSync(venvPython) && process.env.CI !== "true";
if (skip) console.log(`SKIP client/Python cross-check: ${venvPython} not found; run scripts/setup-python.sh (required in CI)`);

/** What each side reports: its tokens (never logged) and the two refusals. */
interface ScenarioOutput {
  readonly original: string;
  readonly validate_original: boolean;
  readonly renewed: string;
  readonly helper: string;
  readonly delegated: string;
  readonly delegate_wider: unknown;
  readonly validate_delegated: boolean;
  readonly over_ceiling: unknown;
}

function runPython(broker: DevBroker, app: RegisteredApp): Promise<ScenarioOutput> {
  return new Promise((resolve, reject) => {
    execFile(venvPython, [script, broker.url, app.clientId, app.clientSecret], { timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`scenario.py failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as ScenarioOutput);
    });
  });
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => {
      if (!(e instanceof ProblemResponseError)) throw e;
      return { status: e.status, error_code: e.errorCode, detail: e.problem.detail };
    },
  );

/** The scenario of fixtures/scenario.py, step for step, with the client. */
async function runClient(broker: DevBroker, app: RegisteredApp): Promise<ScenarioOutput> {
  const client = new AgentWritApp({ brokerUrl: broker.url, clientId: app.clientId, clientSecret: app.clientSecret });
  await client.health();
  const agent = await client.createAgent({ orchId: "orch-x", taskId: "task-main", scope: ["read:data:*", "write:data:report"], maxTtl: 600 });
  const original = agent.accessToken;
  const validateOriginal = (await validate(broker.url, original)).valid;
  await agent.renew();
  const renewed = agent.accessToken;
  const helper = await client.createAgent({ orchId: "orch-x", taskId: "task-helper", scope: ["read:data:*"] });
  const delegated = await agent.delegate({ to: helper.agentId, scope: ["read:data:customers"], ttl: 120 });
  const delegateWider = await failure(agent.delegate({ to: helper.agentId, scope: ["admin:revoke:*"] }));
  const validateDelegated = (await validate(broker.url, delegated.accessToken)).valid;
  await agent.release();
  await agent.release();
  const overCeiling = await failure(client.createAgent({ orchId: "orch-x", taskId: "task-bad", scope: ["admin:revoke:*"] }));
  await helper.release();
  return {
    original,
    validate_original: validateOriginal,
    renewed,
    helper: helper.accessToken,
    delegated: delegated.accessToken,
    delegate_wider: delegateWider,
    validate_delegated: validateDelegated,
    over_ceiling: overCeiling,
  };
}

/** Identifiers and times that legitimately differ between two runs, replaced by placeholders. */
function normalise(text: string): string {
  return text
    .replace(/spiffe:\/\/agentwrit\.local\/agent\/orch-x\/([a-z-]+)\/[0-9a-f]{16}/g, "<agent $1>")
    .replace(/app-cross-(py|ts)-[0-9a-f]{6}/g, "<app-id>")
    .replace(/cross-(py|ts)/g, "<app-name>")
    .replace(/\b[0-9a-f]{128}\b/g, "<sig>")
    .replace(/\b[0-9a-f]{64}\b/g, "<hash>")
    .replace(/\b[0-9a-f]{32}\b/g, "<jti>")
    .replace(/\b[a-z]+-[0-9a-f]{12}\b/g, "<client-id>")
    .replace(/\d{4}-\d\d-\d\dT[0-9:.]+Z/g, "<time>");
}

/** A token's claims with identifiers and absolute times normalised (lifetimes kept). */
function claimShape(token: string): unknown {
  const c = payload(token);
  const { iat, nbf, exp, ...rest } = c as { iat: number; nbf: number; exp: number } & Record<string, unknown>;
  return { ...JSON.parse(normalise(JSON.stringify(rest))), lifetime: exp - iat, nbfIsIat: nbf === iat, types: Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Array.isArray(v) ? "array" : typeof v])) };
}

interface AuditEvent {
  readonly event_type: string;
  readonly [field: string]: unknown;
}

async function auditEvents(broker: DevBroker): Promise<AuditEvent[]> {
  const res = await fetch(`${broker.url}/v1/audit/events?limit=1000`, { headers: { authorization: `Bearer ${broker.adminToken()}` } });
  return ((await res.json()) as { events: AuditEvent[] }).events;
}

/** An event without its own identity (id, time, hash chain), identifiers normalised. */
function eventShape(e: AuditEvent): unknown {
  const { id: _id, timestamp: _t, hash: _h, prev_hash: _p, ...rest } = e;
  return JSON.parse(normalise(JSON.stringify(rest)));
}

describe.skipIf(skip)("the Python SDK and @agentwrit/client, one scenario, one dev broker", () => {
  let broker: DevBroker;
  let py: ScenarioOutput;
  let ts: ScenarioOutput;
  let pyEvents: AuditEvent[];
  let tsEvents: AuditEvent[];

  beforeAll(async () => {
    broker = await startDevBroker();
    const pyApp = await broker.registerApp({ name: "cross-py", scopes: ["read:data:*", "write:data:*"] });
    const tsApp = await broker.registerApp({ name: "cross-ts", scopes: ["read:data:*", "write:data:*"] });
    const start = (await auditEvents(broker)).length;
    py = await runPython(broker, pyApp);
    const middle = (await auditEvents(broker)).length;
    ts = await runClient(broker, tsApp);
    const all = await auditEvents(broker);
    pyEvents = all.slice(start, middle);
    tsEvents = all.slice(middle);
  }, 90_000);
  afterAll(() => broker.close());

  it("the same audit events, in the same order, with the same fields and details", () => {
    expect(pyEvents.length).toBeGreaterThan(5);
    expect(tsEvents.map((e) => e.event_type)).toEqual(pyEvents.map((e) => e.event_type));
    expect(tsEvents.map(eventShape)).toEqual(pyEvents.map(eventShape));
    expect(pyEvents.map((e) => e.event_type)).toEqual(
      expect.arrayContaining(["app_authenticated", "launch_token_issued", "agent_registered", "token_issued", "token_renewed", "delegation_created", "delegation_attenuation_violation", "token_released", "scope_ceiling_exceeded"]),
    );
  });

  it("tokens with the same claims: the agent, its renewal, the helper, the delegated token", () => {
    for (const key of ["original", "renewed", "helper", "delegated"] as const) {
      expect(claimShape(ts[key]), key).toEqual(claimShape(py[key]));
    }
    expect(claimShape(ts.delegated)).toMatchObject({ sub: "<agent task-helper>", task_id: "task-main", scope: ["read:data:customers"], lifetime: 120 });
  });

  it("the same answers: validations and both refusals", () => {
    const { original: _a, renewed: _b, helper: _c, delegated: _d, ...pyRest } = py;
    const { original: _e, renewed: _f, helper: _g, delegated: _h, ...tsRest } = ts;
    expect(tsRest).toEqual(pyRest);
    expect(ts.delegate_wider).toMatchObject({ status: 403, error_code: "scope_violation" });
    expect(ts.over_ceiling).toMatchObject({ status: 403, error_code: "forbidden" });
  });

  it("both sides' tokens are dead after release, the delegated one still valid", async () => {
    for (const side of [py, ts]) {
      expect((await validate(broker.url, side.renewed)).valid).toBe(false);
      expect((await validate(broker.url, side.helper)).valid).toBe(false);
      expect((await validate(broker.url, side.delegated)).valid).toBe(true);
    }
  });
});
