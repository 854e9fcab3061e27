// The dev broker in a process of its own (so that it shares no event loop with the guard under
// measurement, nor its clock or its signature counters), signing with the parent's key. Reports
// {type: "ready", url}; answers {type: "stats"} with its counters and {type: "reset"} after
// setting them to 0, {type: "app"} with the credentials of an application registered for the
// bench's agents (lib/agents.mjs); exits with its parent.
import { startDevBroker } from "@agentwrit/dev-broker";
import { APP_SCOPES } from "./lib/agents.mjs";
import { AUDIENCE, ISSUER } from "./lib/tokens.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
process.on("disconnect", () => process.exit(0));
const broker = await startDevBroker({ signingKey: cfg.privateKeyPem, issuer: ISSUER, audience: AUDIENCE });
process.on("message", (m) => {
  if (m?.type === "stats") process.send({ type: "stats", stats: { ...broker.stats } });
  else if (m?.type === "app") {
    broker.registerApp({ name: `bench-${Date.now()}`, scopes: APP_SCOPES }).then(
      (app) => process.send({ type: "app", clientId: app.clientId, clientSecret: app.clientSecret }),
      (e) => process.send({ type: "error", message: e instanceof Error ? e.message : String(e) }),
    );
  } else if (m?.type === "reset") {
    broker.resetStats();
    process.send({ type: "reset" });
  }
});
process.send({ type: "ready", url: broker.url });
