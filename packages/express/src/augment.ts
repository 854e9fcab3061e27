import type { AgentIdentity } from "@agentwrit/guard";

declare module "express-serve-static-core" {
  interface Request {
    /**
     * The verified agent, set by `agentwritGuard()`; `undefined` on requests no guard has
     * verified. (`req.auth` is left alone: other libraries claim it with other types.)
     */
    agentwrit?: AgentIdentity;
  }
}

/** An Express request that `agentwritGuard()` has verified. */
export interface AgentWritRequest {
  readonly agentwrit: AgentIdentity;
}
