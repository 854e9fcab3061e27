/**
 * Runs the Hono order API on Node (@hono/node-server) at http://127.0.0.1:$PORT (default 3000).
 * The guard is configured by AGENTWRIT_BROKER_URL and/or AGENTWRIT_PUBLIC_KEY (both: hybrid mode),
 * and optionally AGENTWRIT_AUDIENCE and AGENTWRIT_ISSUER.
 */
import { serve } from "@hono/node-server";
import { createApp } from "./app.js";

serve({ fetch: createApp().fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? "3000") }, (info) => {
  console.log(`orders API (Hono) on http://127.0.0.1:${info.port}`);
});
