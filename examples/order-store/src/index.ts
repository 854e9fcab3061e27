/** The order APIs' in-memory data (shared by the three framework examples): two customers and their orders. Each app gets a fresh copy. */
export interface Customer {
  readonly id: string;
  readonly name: string;
}

export interface Order {
  readonly id: string;
  readonly customerId: string;
  readonly total: number;
  status: "pending" | "confirmed";
  /** The agent (SPIFFE ID) that confirmed it. */
  confirmedBy?: string;
}

export interface Store {
  customer(id: string): Customer | undefined;
  confirm(id: string, agentId: string): Order | undefined;
  report(): { customers: number; orders: number; confirmed: number };
}

export function createStore(): Store {
  const customers = new Map<string, Customer>([
    ["42", { id: "42", name: "Ada Example" }],
    ["43", { id: "43", name: "Brook Sample" }],
  ]);
  const orders = new Map<string, Order>([
    ["7", { id: "7", customerId: "42", total: 129.5, status: "pending" }],
    ["8", { id: "8", customerId: "43", total: 18, status: "pending" }],
  ]);
  return {
    customer: (id) => customers.get(id),
    confirm: (id, agentId) => {
      const order = orders.get(id);
      if (order !== undefined) {
        order.status = "confirmed";
        order.confirmedBy = agentId;
      }
      return order;
    },
    report: () => ({
      customers: customers.size,
      orders: orders.size,
      confirmed: [...orders.values()].filter((o) => o.status === "confirmed").length,
    }),
  };
}
