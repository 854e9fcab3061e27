// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["**/dist/**", "**/node_modules/**", "**/.venv/**", "**/coverage/**", "bench/results*.json", "test/docs/.snippets/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["vitest.config.ts", "vitest.*.config.ts"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-extraneous-class": "off",
      // Internal refusals are thrown as plain objects on purpose (no stack trace per forged token).
      "@typescript-eslint/only-throw-error": ["error", { allow: [{ from: "file", name: "Refusal" }] }],
    },
  },
  {
    // The core and the client must stay runtime-neutral: no Node built-ins, no frameworks, no environment, no console.
    files: ["packages/core/src/**/*.ts", "packages/client/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "core and client are runtime-neutral: use Web APIs" },
            { group: ["express", "fastify", "hono", "hono/*", "@modelcontextprotocol/*"], message: "core and client know no framework" },
          ],
        },
      ],
      "no-restricted-globals": ["error", "process", "Buffer", "require"],
      "no-console": "error",
    },
  },
  {
    files: ["**/test/**/*.ts", "test/**/*.ts", "bench/**/*.ts", "examples/**/*.ts", "**/*.test.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-confusing-void-expression": "off",
      "@typescript-eslint/use-unknown-in-catch-callback-variable": "off",
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Node scripts (packing, benchmarks, tooling).
    files: ["scripts/**/*.mjs", "bench/**/*.mjs", "bench/**/*.js", "**/*.config.js"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly", performance: "readonly" },
    },
  },
);
