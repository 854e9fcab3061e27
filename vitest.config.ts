import { defineConfig } from "vitest/config";

// Tests resolve workspace packages to their TypeScript sources (the "@agentwrit/source"
// export condition), so a test run never depends on a stale build.
export default defineConfig({
  resolve: { conditions: ["@agentwrit/source"] },
  ssr: { resolve: { conditions: ["@agentwrit/source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", "test/security/**"],
    testTimeout: 20000,
    hookTimeout: 60000,
    pool: "forks",
  },
});
