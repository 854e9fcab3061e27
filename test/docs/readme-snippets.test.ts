/**
 * Every TypeScript snippet in README.md and packages/*\/README.md compiles as written, under
 * strict settings including `exactOptionalPropertyTypes`, against the packages' published types
 * (their built `dist`, as a user gets them). Each ```ts block is its own module: it must carry
 * its imports and declarations. A snippet that stops compiling fails CI, with the README's file
 * and line in the message.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;
const outDir = join(root, "test/docs/.snippets");

interface Snippet {
  readonly file: string;
  /** 1-based line of the snippet's first code line in the README. */
  readonly line: number;
  readonly code: string;
  readonly name: string;
}

/** The READMEs a user reads: the root one and each published package's. */
function readmes(): string[] {
  const packages = readdirSync(join(root, "packages"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(root, "packages", d.name, "README.md"));
  return [join(root, "README.md"), ...packages].filter((f) => {
    try {
      readFileSync(f);
      return true;
    } catch {
      return false;
    }
  });
}

/** ```ts and ```typescript fences (not ```sh, ```text, ```js…). */
export function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split("\n");
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\s*$/.exec(lines[i] ?? "");
    if (open === null) continue;
    const indent = open[1] ?? "";
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] ?? "")) end++;
    const code = lines
      .slice(start, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join("\n");
    const base = relative(root, file).replace(/[/.]/g, "_");
    out.push({ file, line: start + 1, code, name: `${base}_L${String(start + 1)}` });
    i = end;
  }
  return out;
}

/**
 * The Express 5 typings a user's app has. This workspace also holds Express 4's (for test/types),
 * and pnpm's private hoisting may hand Express 4's `express-serve-static-core` to packages that
 * augment it (the MCP SDK's `req.auth`); a user's install has one copy, so pin the one
 * `@types/express` 5 uses.
 */
function expressCoreTypes(): string {
  const require = createRequire(join(root, "test/package.json"));
  const express = dirname(realpathSync(require.resolve("@types/express/package.json")));
  const core = createRequire(join(express, "package.json")).resolve("@types/express-serve-static-core/package.json");
  return dirname(realpathSync(core));
}

const TSCONFIG = {
  compilerOptions: {
    paths: { "express-serve-static-core": [join(expressCoreTypes(), "index.d.ts")] },
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023", "DOM", "esnext.disposable"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitReturns: true,
    noImplicitOverride: true,
    useUnknownInCatchVariables: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    noEmit: true,
  },
  include: ["*.ts"],
};

describe("README snippets compile under strict TypeScript", () => {
  const snippets = readmes().flatMap((f) => extractSnippets(f, readFileSync(f, "utf8")));

  it("finds the snippets", () => {
    expect(snippets.length).toBeGreaterThan(5);
  });

  it("every snippet type-checks (imports and declarations included)", () => {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(join(outDir, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    // `export {}` keeps each snippet a module even without imports (top-level await, own scope).
    for (const s of snippets) writeFileSync(join(outDir, `${s.name}.ts`), `${s.code}\nexport {};\n`);
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", outDir, "--pretty", "false"], { encoding: "utf8" });
    const byName = new Map(snippets.map((s) => [s.name, s]));
    const problems = (r.stdout + r.stderr)
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => {
        // name.ts(12,5): error TS2304: … → README.md:LINE (snippet line 12)
        const m = /^(?:.*\/)?([^/()]+)\.ts\((\d+),(\d+)\): (.*)$/.exec(l.trim());
        const s = m === null ? undefined : byName.get(m[1] ?? "");
        if (m === null || s === undefined) return l;
        return `${relative(root, s.file)}:${String(s.line + Number(m[2]) - 1)}:${m[3] ?? ""} ${m[4] ?? ""}`;
      });
    expect(problems, problems.join("\n")).toEqual([]);
    expect(r.status).toBe(0);
  }, 120_000);
});
