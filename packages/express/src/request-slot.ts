/**
 * Where a verified request keeps what verified it, and how `req.agentwrit` reads it.
 *
 * The record (guard, `passErrors`, identity) lives in a WeakMap keyed by the request, so that
 * `requireScope` asks the same guard, answers the same way, and trusts only the identity the
 * guard returned (not whatever `req.agentwrit` holds later).
 *
 * `req.agentwrit` is an accessor on Express's own request prototype (the one every app's
 * `app.request` inherits from), reading that WeakMap: a request takes no new property. Express
 * swaps every request's prototype, after which V8 adds a property to it through its slow path: a
 * CPU profile of a hot Express route measured `req.agentwrit = identity` at ~3 µs per request,
 * against ~0.3 µs for the WeakMap entry (bench/README.md). Assigning `req.agentwrit` yourself
 * still works: it defines the request's own property, which `requireScope` never trusts.
 *
 * A request whose prototype chain is not Express's, or on whose chain something else answers
 * `agentwrit`, gets an own property instead. Known limit: a middleware that later moves the request
 * onto a prototype chain without the accessor (an app of another copy of Express called as a plain
 * handler, not mounted with `app.use`) leaves `req.agentwrit` undefined there; `requireScope`
 * still decides from the WeakMap.
 */
import { IncomingMessage } from "node:http";
import type { AgentIdentity, Guard } from "@agentwrit/guard";

export interface Verified {
  readonly guard: Guard;
  readonly passErrors: boolean;
  readonly identity: AgentIdentity;
}

const verifiedBy = new WeakMap<object, Verified>();

/** What verified this request, if a guard did. */
export function verifiedOf(req: object): Verified | undefined {
  return verifiedBy.get(req);
}

function read(this: object): AgentIdentity | undefined {
  return verifiedBy.get(this)?.identity;
}

function write(this: object, value: unknown): void {
  Object.defineProperty(this, "agentwrit", { value, writable: true, enumerable: true, configurable: true });
}

/** Express's shared request prototype in `proto`'s chain: the one whose own prototype is Node's `IncomingMessage.prototype`. */
function expressRequestPrototype(proto: object | null): object | undefined {
  for (let p = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (Object.getPrototypeOf(p) === IncomingMessage.prototype) return p;
  }
  return undefined;
}

/** Defines the accessor on Express's request prototype in `proto`'s chain, unless it has an `agentwrit` already; true when it did. */
function install(proto: object | null): boolean {
  const target = expressRequestPrototype(proto);
  if (target === undefined || Object.hasOwn(target, "agentwrit")) return false;
  try {
    Object.defineProperty(target, "agentwrit", { get: read, set: write, enumerable: false, configurable: true });
    return true;
  } catch {
    return false; // a frozen prototype: own properties then
  }
}

/**
 * Records what verified `req`; `req.agentwrit` then reads its identity. The accessor is trusted
 * only when reading it back gives that identity now: anything the app put on the prototype chain
 * (an `agentwrit` on `app.request`, a replaced or deleted accessor, an own value on `req`) makes
 * the identity the request's own property instead. Throws (a `TypeError`) only when `req` takes
 * no own property at all (non-extensible, or a non-configurable `agentwrit`): the adapter answers
 * that as a server error.
 */
export function markVerified(req: { agentwrit?: AgentIdentity | undefined }, verified: Verified): void {
  verifiedBy.set(req, verified);
  const identity = verified.identity;
  // Once the accessor is installed this read is the whole cost; an own value or anything else on
  // the chain reads as something else, and the first request of an Express copy installs it.
  if (req.agentwrit === identity) return;
  if (install(Object.getPrototypeOf(req) as object | null) && req.agentwrit === identity) return;
  Object.defineProperty(req, "agentwrit", { value: identity, writable: true, enumerable: true, configurable: true });
}
