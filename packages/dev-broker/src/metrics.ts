/**
 * The broker's Prometheus metrics (`internal/obs`), rendered in the text exposition format 0.0.4.
 * Families are sorted by name and samples by label value, as client_golang does. Unlike
 * client_golang, a labelled family with no samples yet still shows its HELP and TYPE lines.
 */

type Kind = "counter" | "gauge" | "histogram";

interface Family {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly label: string | undefined;
  /** label value ("" when unlabelled) → value */
  readonly values: Map<string, number>;
  /** histogram only: label value → bucket counts, sum, count */
  readonly hist: Map<string, { buckets: number[]; sum: number; count: number }>;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the broker's `promhttp` handler answers (recent client_golang appends the escaping scheme). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (n === Infinity) return "+Inf";
  return String(n);
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly startSeconds = Math.floor(Date.now() / 1000);

  constructor() {
    this.define("agentwrit_tokens_issued_total", "Total tokens issued, by first scope.", "counter", "scope");
    this.define("agentwrit_tokens_revoked_total", "Total token revocations, by level.", "counter", "level");
    this.define("agentwrit_registrations_total", "Total agent registrations, by status.", "counter", "status");
    this.define("agentwrit_admin_auth_total", "Total admin authentication attempts, by status.", "counter", "status");
    this.define("agentwrit_launch_tokens_created_total", "Total launch tokens created.", "counter", undefined);
    this.define("agentwrit_active_agents", "Number of registered agents.", "gauge", undefined);
    this.define("agentwrit_request_duration_seconds", "Request duration in seconds, by endpoint.", "histogram", "endpoint");
    this.define("agentwrit_clock_skew_total", "Total clock skew events.", "counter", undefined);
    this.define("agentwrit_audit_events_total", "Total audit events, by type.", "counter", "event_type");
    this.define("agentwrit_audit_write_duration_seconds", "Audit write duration in seconds.", "histogram", undefined);
    this.define("agentwrit_db_errors_total", "Total database errors, by operation.", "counter", "operation");
    this.define("agentwrit_audit_events_loaded", "Audit events loaded at startup.", "gauge", undefined);
  }

  private define(name: string, help: string, kind: Kind, label: string | undefined): void {
    const f: Family = { name, help, kind, label, values: new Map(), hist: new Map() };
    if (label === undefined) {
      if (kind === "histogram") f.hist.set("", { buckets: DEFAULT_BUCKETS.map(() => 0), sum: 0, count: 0 });
      else f.values.set("", 0);
    }
    this.families.set(name, f);
  }

  private family(name: string): Family {
    const f = this.families.get(name);
    if (f === undefined) throw new Error(`unknown metric ${name}`);
    return f;
  }

  inc(name: string, labelValue = "", by = 1): void {
    const f = this.family(name);
    f.values.set(labelValue, (f.values.get(labelValue) ?? 0) + by);
  }

  set(name: string, value: number, labelValue = ""): void {
    this.family(name).values.set(labelValue, value);
  }

  observe(name: string, seconds: number, labelValue = ""): void {
    const f = this.family(name);
    let h = f.hist.get(labelValue);
    if (h === undefined) {
      h = { buckets: DEFAULT_BUCKETS.map(() => 0), sum: 0, count: 0 };
      f.hist.set(labelValue, h);
    }
    DEFAULT_BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  /** Current value of a counter or gauge sample (for tests). */
  value(name: string, labelValue = ""): number {
    return this.family(name).values.get(labelValue) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const proc: [string, string, Kind, number][] = [
      ["process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (cpu.user + cpu.system) / 1e6],
      ["process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", mem.rss],
      ["process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", this.startSeconds],
    ];
    const names = [...this.families.keys(), ...proc.map((p) => p[0])].sort();
    for (const name of names) {
      const p = proc.find((x) => x[0] === name);
      if (p !== undefined) {
        lines.push(`# HELP ${name} ${p[1]}`, `# TYPE ${name} ${p[2]}`, `${name} ${fmt(p[3])}`);
        continue;
      }
      const f = this.family(name);
      lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
      const lbl = (v: string, extra?: string): string => {
        const parts: string[] = [];
        if (f.label !== undefined) parts.push(`${f.label}="${escapeLabel(v)}"`);
        if (extra !== undefined) parts.push(extra);
        return parts.length === 0 ? "" : `{${parts.join(",")}}`;
      };
      if (f.kind === "histogram") {
        for (const [v, h] of [...f.hist].sort((a, b) => a[0].localeCompare(b[0]))) {
          DEFAULT_BUCKETS.forEach((le, i) => lines.push(`${f.name}_bucket${lbl(v, `le="${fmt(le)}"`)} ${fmt(h.buckets[i] ?? 0)}`));
          lines.push(`${f.name}_bucket${lbl(v, 'le="+Inf"')} ${fmt(h.count)}`);
          lines.push(`${f.name}_sum${lbl(v)} ${fmt(h.sum)}`, `${f.name}_count${lbl(v)} ${fmt(h.count)}`);
        }
      } else {
        for (const [v, n] of [...f.values].sort((a, b) => a[0].localeCompare(b[0]))) lines.push(`${f.name}${lbl(v)} ${fmt(n)}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}
