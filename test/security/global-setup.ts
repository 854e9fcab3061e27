/**
 * Global setup of `pnpm test:security`: gives every test file a directory for its report rows,
 * and prints the summary table (category, cases tried, held, figures) when the run ends.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import type { Row } from "./report.js";

function table(rows: readonly Row[]): string {
  const header = ["category", "tried", "held", "figures"];
  const cells = rows.map((r) => [r.category, String(r.tried), String(r.held), r.figures]);
  const tried = rows.reduce((n, r) => n + r.tried, 0);
  const held = rows.reduce((n, r) => n + r.held, 0);
  cells.push(["TOTAL", String(tried), String(held), tried === held ? "every case held" : `${tried - held} did not hold`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (i === 3 ? 0 : (c[i] ?? "").length))));
  const line = (c: readonly string[]) => c.map((v, i) => (i === 3 ? v : i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join(" | ");
  const rule = widths.map((w, i) => "-".repeat(i === 3 ? 7 : w)).join("-|-");
  return [line(header), rule, ...cells.slice(0, -1).map(line), rule, line(cells.at(-1) ?? [])].join("\n");
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "agentwrit-security-"));
  project.provide("securityReportDir", dir);
  return () => {
    const file = join(dir, "rows.jsonl");
    const rows = existsSync(file)
      ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Row)
      : [];
    rmSync(dir, { recursive: true, force: true });
    rows.sort((a, b) => a.category.localeCompare(b.category));
    console.log("\nagentwrit-guard security suite: what it tried and what held\n");
    console.log(table(rows));
    console.log("\n(packages/core/test/properties.test.ts ran in the same run: scope algebra laws, Go reference model, templates never widen, authenticate on arbitrary headers.)\n");
  };
}
