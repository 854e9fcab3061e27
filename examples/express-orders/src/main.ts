/**
 * Runs the Express order API on http://127.0.0.1:$PORT (default 3000). The guard is configured by
 * AGENTWRIT_BROKER_URL and/or AGENTWRIT_PUBLIC_KEY (both: hybrid mode), and optionally
 * AGENTWRIT_AUDIENCE and AGENTWRIT_ISSUER.
 */
import { createApp } from "./app.js";

const port = Number(process.env.PORT ?? "3000");
createApp().listen(port, "127.0.0.1", () => {
  console.log(`orders API (Express) on http://127.0.0.1:${port}`);
});
