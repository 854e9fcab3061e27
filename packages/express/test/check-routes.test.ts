/**
 * checkRoutes(app): a placeholder no route parameter fills is refused at startup (a TypeError
 * naming the route), on Express 4 and 5, through routers with and without mergeParams.
 */
import express5 from "express";
import express4 from "express4";
import { describe, expect, it } from "vitest";
import { makeKey } from "../../../test/support/tokens.js";
import { agentwritGuard, checkRoutes, createGuard, requireAnyScope, requireScope } from "../src/index.js";

const guard = createGuard({ publicKey: makeKey().publicKeyPem });
const ok = (_req: unknown, res: { end(): void }): void => {
  res.end();
};

describe.each([
  ["express 5", express5],
  ["express 4", express4],
])("%s", (_name, express) => {
  it("well-wired routes pass, and say how many checks they hold", () => {
    const app = express();
    app.use(agentwritGuard(guard));
    app.get("/customers/:customerId", requireScope("read:data:customer-{customerId}"), ok);
    app.post("/orders/:id/confirm", agentwritGuard("write:data:order-{id}", guard), ok);
    app.get("/report", requireScope("read:reports:*"), ok);
    const nested = express.Router({ mergeParams: true });
    nested.get("/orders/:orderId", requireScope(["read:data:customer-{customerId}", "read:data:order-{orderId}"]), ok);
    app.use("/customers/:customerId", nested);
    expect(checkRoutes(app)).toBe(3);
  });

  it("a placeholder the route does not declare is a TypeError naming route and placeholder", () => {
    const app = express();
    app.use(agentwritGuard(guard));
    app.get("/customers/:customerId", requireScope("read:data:customer-{id}"), ok);
    app.get("/orders/:orderId", requireAnyScope("read:data:order-{id}", "admin:data:*"), ok);
    expect(() => checkRoutes(app)).toThrow(TypeError);
    expect(() => checkRoutes(app)).toThrow(/GET \/customers\/:customerId: \{id\} \(the route declares only :customerId\)/);
    expect(() => checkRoutes(app)).toThrow(/GET \/orders\/:orderId: \{id\}/);
  });

  it("a router without mergeParams does not see its mount path's parameters", () => {
    const app = express();
    const nested = express.Router();
    nested.get("/orders", requireScope("read:data:customer-{customerId}"), ok);
    app.use(agentwritGuard(guard));
    app.use("/customers/:customerId", nested);
    expect(() => checkRoutes(app)).toThrow(/\{customerId\} \(the route declares no parameters\)/);
  });

  it("an app-wide middleware with placeholders has no route to fill them", () => {
    const app = express();
    app.use(agentwritGuard("read:data:customer-{id}", guard));
    app.get("/customers/:id", ok);
    expect(() => checkRoutes(app)).toThrow(/USE .*\{id\}/);
  });

  it("an app with no routes at all passes", () => {
    expect(checkRoutes(express())).toBe(0);
  });
});
