/**
 * What the security suite tried and what held. Each test file tallies its cases per category;
 * the rows are appended to a file the global setup (./global-setup.ts) created, and printed as one
 * table when the run ends. Never records token text.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

export interface Row {
  readonly category: string;
  readonly tried: number;
  readonly held: number;
  readonly figures: string;
}

/** A category's tally: every case is counted, and counted as held only when it met its expectation. */
export class Tally {
  tried = 0;
  held = 0;
  readonly failures: string[] = [];
  readonly #figures = new Map<string, string>();
  constructor(readonly category: string) {}

  /** Counts one case; returns `ok` so the caller can still `expect` on it. */
  check(name: string, ok: boolean): boolean {
    this.tried++;
    if (ok) this.held++;
    else this.failures.push(name);
    return ok;
  }

  figure(name: string, value: string | number): void {
    this.#figures.set(name, typeof value === "number" ? formatNumber(value) : value);
  }

  /** Appends this category's row to the run's report. */
  write(): void {
    const figures = [...this.#figures].map(([k, v]) => `${k} ${v}`).join("; ");
    const row: Row = { category: this.category, tried: this.tried, held: this.held, figures };
    appendFileSync(join(inject("securityReportDir"), "rows.jsonl"), JSON.stringify(row) + "\n");
  }
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** A set of tallies by category, written together in `afterAll`. */
export class Report {
  readonly #tallies = new Map<string, Tally>();
  get(category: string): Tally {
    let t = this.#tallies.get(category);
    if (t === undefined) this.#tallies.set(category, (t = new Tally(category)));
    return t;
  }
  write(): void {
    for (const t of this.#tallies.values()) t.write();
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    securityReportDir: string;
  }
}
