/**
 * checkRoutes(app): a placeholder no route parameter fills is refused at startup (a TypeError
 * naming the route), with basePath and sub-apps mounted by app.route().
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { makeKey } from "../../../test/support/tokens.js";
import { agentwritGuard, checkRoutes, createGuard, requireScope } from "../src/index.js";

const guard = createGuard({ publicKey: makeKey().publicKeyPem });

describe("checkRoutes", () => {
  it("well-wired routes pass, sub-app paths included", () => {
    const app = new Hono().basePath("/api");
    app.use("*", agentwritGuard(guard));
    app.get("/customers/:customerId", requireScope("read:data:customer-{customerId}"), (c) => c.text("ok"));
    const orders = new Hono();
    orders.get("/:orderId", requireScope(["read:data:customer-{customerId}", "read:data:order-{orderId}"]), (c) => c.text("ok"));
    app.route("/customers/:customerId/orders", orders);
    expect(checkRoutes(app)).toBe(2);
  });

  it("a placeholder the route does not declare is a TypeError naming route and placeholder", () => {
    const app = new Hono();
    app.use("*", agentwritGuard(guard));
    app.get("/customers/:customerId", requireScope("read:data:customer-{id}"), (c) => c.text("ok"));
    app.use("/orders/*", agentwritGuard("write:data:order-{id}", guard));
    expect(() => checkRoutes(app)).toThrow(/GET \/customers\/:customerId: \{id\} \(the route declares only :customerId\)/);
    expect(() => checkRoutes(app)).toThrow(/ALL \/orders\/\*: \{id\} \(the route declares no parameters\)/);
  });
});
