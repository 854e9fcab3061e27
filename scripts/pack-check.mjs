// Packs every publishable package and checks the tarball with publint and
// @arethetypeswrong/cli (ESM-only profile), as a consumer would receive it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pkgsDir = join(root, "packages");
const out = mkdtempSync(join(tmpdir(), "agentwrit-pack-"));
let failed = false;
try {
  for (const name of readdirSync(pkgsDir).sort()) {
    const dir = join(pkgsDir, name);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    const before = new Set(readdirSync(out));
    execFileSync("pnpm", ["pack", "--pack-destination", out], { cwd: dir, stdio: "pipe" });
    const tarball = readdirSync(out).find((f) => !before.has(f));
    if (!tarball) throw new Error(`no tarball for ${manifest.name}`);
    const file = join(out, tarball);
    for (const [cmd, args] of [
      ["publint", ["--strict", file]],
      ["attw", ["--profile", "esm-only", file]],
    ]) {
      try {
        execFileSync(join(root, "node_modules/.bin", cmd), args, { stdio: "pipe" });
        console.log(`ok   ${cmd} ${manifest.name}`);
      } catch (e) {
        failed = true;
        console.log(`FAIL ${cmd} ${manifest.name}\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`);
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (failed) process.exit(1);
