/**
 * Runs the order worker once and exits 0 when every step came out as expected.
 *
 * AGENTWRIT_BROKER_URL, AGENTWRIT_CLIENT_ID and AGENTWRIT_CLIENT_SECRET (as printed by
 * `agentwrit-dev-broker --app orders:read:data:*,write:data:*,read:reports:*`); ORDERS_API_URL
 * (default http://127.0.0.1:3000); CUSTOMER_ID (default 42) and ORDER_ID (default 7).
 */
import { runOrderWorker } from "./worker.js";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`order-worker: set ${name}`);
  return value;
}

const steps = await runOrderWorker({
  brokerUrl: required("AGENTWRIT_BROKER_URL"),
  apiUrl: process.env.ORDERS_API_URL ?? "http://127.0.0.1:3000",
  clientId: required("AGENTWRIT_CLIENT_ID"),
  clientSecret: required("AGENTWRIT_CLIENT_SECRET"),
  customerId: process.env.CUSTOMER_ID ?? "42",
  orderId: process.env.ORDER_ID ?? "7",
  log: console.log,
});
process.exitCode = steps.every((s) => s.ok) ? 0 : 1;
