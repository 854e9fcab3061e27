// Agents as an application makes them: @agentwrit/client against the dev broker (app
// authentication, launch token, challenge, Ed25519-signed registration), so that every HTTP and
// broker section sends tokens the broker issued. Only where a measure needs more distinct tokens
// than a broker can register in the time of a run (tens of thousands for the cold rounds, a
// million for memory) does the bench still mint them itself (lib/tokens.mjs), with the broker's
// key, header and claim order.
import { AgentWritApp } from "@agentwrit/client";

/** The scopes the bench's application may grant its agents. */
export const APP_SCOPES = ["read:data:*", "write:data:*"];

/** An application for a registered app's credentials (`{ clientId, clientSecret }`). */
export function benchApp(brokerUrl, credentials) {
  return new AgentWritApp({ brokerUrl, clientId: credentials.clientId, clientSecret: credentials.clientSecret });
}

/**
 * `n` agents created through the client, `inFlight` at a time; returns their `Authorization`
 * header values (`agent.bearerHeader.Authorization`). `ttlSec` outlasts a full run (the broker's default is 300).
 */
export async function agentHeaders(app, n, { inFlight = 8, ttlSec = 3600, task = "task" } = {}) {
  const headers = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        const i = next++;
        const agent = await app.createAgent({ orchId: "bench", taskId: `${task}-${i}`, scope: ["read:data:*", `write:data:order-${i}`], maxTtl: ttlSec });
        headers[i] = agent.bearerHeader.Authorization;
      }
    }),
  );
  return headers;
}
