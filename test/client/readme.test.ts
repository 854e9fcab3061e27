/**
 * Every TypeScript snippet about the client compiles as written: the root README's section
 * "For agents: @agentwrit/client" and packages/client/README.md, each checked as its own ES
 * module under the repository's strict settings (exactOptionalPropertyTypes included).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const here = fileURLToPath(new URL("./", import.meta.url));

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "${heading}"`);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

const snippets: [string, string][] = [
  ...tsBlocks(section(readFileSync(root + "README.md", "utf8"), "For agents: @agentwrit/client")).map((code, i): [string, string] => [`README.md #${String(i + 1)}`, code]),
  ...tsBlocks(readFileSync(root + "packages/client/README.md", "utf8")).map((code, i): [string, string] => [`packages/client/README.md #${String(i + 1)}`, code]),
];

const fileOf = (name: string): string => `${here}__snippet_${name.replace(/[^a-z0-9]/gi, "_")}.ts`;

/** Type errors per snippet, each a module in test/client (so that it resolves the workspace packages), in one program. */
function typeErrors(): Map<string, string[]> {
  const files = new Map(snippets.map(([name, code]) => [fileOf(name), code]));
  const base = ts.readConfigFile(root + "tsconfig.base.json", (p) => ts.sys.readFile(p)).config as { compilerOptions: object };
  const { options } = ts.convertCompilerOptionsFromJson({ ...base.compilerOptions, lib: ["ES2023", "DOM"], types: ["node"], noEmit: true, declaration: false, declarationMap: false, sourceMap: false }, root);
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (p) => files.get(p) ?? readFile(p);
  host.fileExists = (p) => files.has(p) || fileExists(p);
  host.getSourceFile = (p, lang, onError, create) => {
    const code = files.get(p);
    return code === undefined ? getSourceFile(p, lang, onError, create) : ts.createSourceFile(p, code, lang);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host });
  const out = new Map<string, string[]>([...files.keys()].map((f) => [f, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const line = d.file === undefined ? "" : String(d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1) + ": ";
    const key = d.file !== undefined && out.has(d.file.fileName) ? d.file.fileName : [...out.keys()][0]!;
    out.get(key)!.push(line + ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  }
  return out;
}

describe("README snippets about the client compile", () => {
  let errors: Map<string, string[]>;
  beforeAll(() => {
    errors = typeErrors();
  }, 120_000);

  it("finds them", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
  });

  it.each(snippets)("%s", (name) => {
    expect(errors.get(fileOf(name))).toEqual([]);
  });
});
