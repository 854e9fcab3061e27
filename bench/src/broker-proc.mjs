// The dev broker in a process of its own (so that it shares no event loop with the guard under
// measurement, nor its clock or its signature counters), signing with the parent's key. Reports
// {type: "ready", url}; answers {type: "stats"} with its counters and {type: "reset"} after
// setting them to 0; exits with its parent.
import { startDevBroker } from "@agentwrit/dev-broker";
import { ISSUER } from "./lib/tokens.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
process.on("disconnect", () => process.exit(0));
const broker = await startDevBroker({ signingKey: cfg.privateKeyPem, issuer: ISSUER });
process.on("message", (m) => {
  if (m?.type === "stats") process.send({ type: "stats", stats: { ...broker.stats } });
  else if (m?.type === "reset") {
    broker.resetStats();
    process.send({ type: "reset" });
  }
});
process.send({ type: "ready", url: broker.url });
