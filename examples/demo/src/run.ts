/**
 * The end-to-end demo: a development broker, the Express order API behind a hybrid guard, and the
 * order worker, all in this process on 127.0.0.1. Prints one line per step (never a token).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startDevBroker } from "@agentwrit/dev-broker";
import { createApp } from "@agentwrit/example-express-orders";
import { runOrderWorker, type WorkerStep } from "@agentwrit/example-order-worker";

export interface DemoResult {
  /** True when every step came out as expected. */
  readonly ok: boolean;
  readonly steps: readonly WorkerStep[];
}

export async function runDemo(log: (line: string) => void = console.log): Promise<DemoResult> {
  const broker = await startDevBroker();
  let server: Server | undefined;
  try {
    const app = await broker.registerApp({ name: "orders", scopes: ["read:data:*", "write:data:*", "read:reports:*"] });
    // Hybrid: the signature is checked locally with the broker's public key, then the broker is
    // asked on every request, so a released token is refused at once.
    const api = createApp({ brokerUrl: broker.url, publicKey: broker.publicKeyPem });
    server = await new Promise<Server>((resolve, reject) => {
      const s = api.listen(0, "127.0.0.1", () => {
        resolve(s);
      });
      s.once("error", reject);
    });
    const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    log(`AgentWrit demo`);
    log(`  dev broker  ${broker.url} (kid ${broker.kid.slice(0, 8)}…; app "orders", ceiling read:data:* write:data:* read:reports:*)`);
    log(`  orders API  ${apiUrl} (Express, hybrid guard: local Ed25519 check + broker validation)`);
    log(`  the agent (@agentwrit/client): task confirm-order-7, customer 42 and order 7 only`);
    log("");
    const steps = await runOrderWorker({
      brokerUrl: broker.url,
      apiUrl,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      customerId: "42",
      orderId: "7",
      log: (line) => {
        log(`  ${line}`);
      },
    });
    const failed = steps.filter((s) => !s.ok).length;
    const ok = failed === 0 && steps.length > 0;
    log("");
    log(ok ? `All ${steps.length} steps came out as expected.` : `${failed} of ${steps.length} steps did not come out as expected.`);
    return { ok, steps };
  } finally {
    const s = server;
    if (s !== undefined) {
      await new Promise<void>((resolve) => {
        s.close(() => {
          resolve();
        });
        s.closeAllConnections();
      });
    }
    await broker.close();
  }
}
