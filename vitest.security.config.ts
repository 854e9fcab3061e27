import { defineConfig } from "vitest/config";

// `pnpm test:security`: the attack, fault-injection, adapter-property and soak suites in
// test/security, plus the core's property tests. Same source resolution as vitest.config.ts.
const soakSeconds = Number(process.env.SOAK_SECONDS ?? "5");

export default defineConfig({
  resolve: { conditions: ["@agentwrit/source"] },
  ssr: { resolve: { conditions: ["@agentwrit/source"] } },
  test: {
    include: ["test/security/**/*.test.ts", "packages/core/test/properties.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    globalSetup: ["test/security/global-setup.ts"],
    testTimeout: 60000 + Math.max(0, soakSeconds) * 2000,
    hookTimeout: 60000,
    pool: "forks",
  },
});
