// Plugin authoring end to end with the built `selectiv` command (pnpm test builds first): `plugins new` →
// install from pnpm's store → build → the plugin's own contract tests → link → bench run; broken plugins; and the
// tutorial's code blocks against the scaffold.
import { PLUGIN_API_VERSION, isSelectivError } from "@selectiv/core";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { PLUGIN_TOOL_VERSIONS, checkModelId, checkPluginName, modelIdFor, renderPlugin } from "./plugin-scaffold.js";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "packages/cli/bin/run.js");

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a child process outside this test run: without the outer pnpm's npm_* settings and the outer
 * vitest's variables, which would leak into the scaffold's own pnpm and vitest; without colours, to read output.
 */
function outsideEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_|vitest)/i.test(key)));
  return { ...env, NO_COLOR: "1", FORCE_COLOR: "0", ...extra };
}

function spawn(command: string, args: string[], cwd: string, env = outsideEnv()): Ran {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 300_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

function selectiv(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Ran {
  return spawn(process.execPath, [bin, ...args], options.cwd ?? root, outsideEnv(options.env));
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));
}

/** An isolated oclif data folder, so `plugins link` does not touch the user's. */
function isolatedOclifEnv(): Record<string, string> {
  const data = tempDir("xdg");
  return { XDG_DATA_HOME: data, XDG_CONFIG_HOME: data, XDG_CACHE_HOME: data };
}

describe("selectiv plugins new", () => {
  it("scaffolds a plugin that installs from the store, builds, passes its own contract tests, links and runs in bench run", () => {
    const dir = join(tempDir("scaffold"), "selectiv-plugin-gated-input");
    const created = selectiv(["plugins", "new", "selectiv-plugin-gated-input", "--dir", dir, "--json"]);
    expect(created.status, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toEqual({
      name: "selectiv-plugin-gated-input",
      modelId: "gated-input",
      dir,
      files: ["package.json", "README.md", ".gitignore", "src/index.ts", "src/model.test.ts", "tsconfig.json"],
    });
    const pjson = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pjson.devDependencies["@selectiv/core"]).toBe(`link:${join(root, "packages/core")}`);
    expect(pjson.selectiv).toEqual({ apiVersion: PLUGIN_API_VERSION });

    // --prefer-offline: packages come from pnpm's store (the workspace's install put them there); only package
    // metadata a frozen-lockfile install did not cache is fetched. --no-frozen-lockfile: with CI=true pnpm would
    // otherwise demand a lockfile, which a new package does not have.
    const install = spawn("pnpm", ["install", "--prefer-offline", "--no-frozen-lockfile"], dir);
    expect(install.status, install.stdout + install.stderr).toBe(0);
    const build = spawn("pnpm", ["run", "build"], dir);
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const tests = spawn("pnpm", ["test", "--reporter=verbose"], dir);
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/Tests\s+\d+ passed/);
    expect(tests.stdout).toContain(
      "model contract: gated-input > config: without short convolutions > chunked form (ops kernels) ≡ stepwise",
    );
    expect(tests.stdout).not.toMatch(/failed/);

    const env = isolatedOclifEnv();
    const link = selectiv(["plugins", "link", dir, "--no-install"], { env });
    expect(link.status, link.stderr).toBe(0);
    const run = selectiv(["bench", "run", "--preset", "smoke", "--model", "gated-input", "--json", "--out", tempDir("scaffold-out")], {
      env,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/^warning:/m);
    const [result] = (JSON.parse(run.stdout) as { runs: { model: string; status: string; testAccuracy: number }[] }).runs;
    expect(result).toMatchObject({ model: "gated-input", status: "completed" });
    expect(result!.testAccuracy).toBeGreaterThan(0);
  });

  it("refuses a non-empty folder in one line, and writes nothing into it", () => {
    const occupied = tempDir("occupied");
    writeFileSync(join(occupied, "notes.txt"), "mine\n");
    const r = selectiv(["plugins", "new", "selectiv-plugin-x", "--dir", occupied]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^selectiv: --dir: .* exists and is not an empty folder; choose a new or empty one$/);
    expect(readdirSync(occupied)).toEqual(["notes.txt"]);
  });

  it("refuses a bad name and a bad or built-in model id with one-line errors naming what is allowed", () => {
    const builtIns = ["gla", "mamba"];
    const refusals: [() => void, RegExp][] = [
      [() => checkPluginName("Not A Name"), /^plugin name "Not A Name" is not allowed; expected an npm package name: lower-case letters/],
      [() => checkPluginName("@scope/"), /^plugin name "@scope\/" is not allowed/],
      [() => checkModelId("9lives", builtIns, "--id"), /^--id: model id "9lives" is not allowed; expected lower-case letters, digits/],
      [() => checkModelId("gla", builtIns, "--id"), /^--id: model id "gla" is a built-in model's id; plugins cannot shadow it/],
    ];
    for (const [refuse, message] of refusals) {
      expect(refuse).toThrow(message);
      try {
        refuse();
      } catch (e) {
        expect(isSelectivError(e) && !e.message.includes("\n")).toBe(true);
      }
    }
    expect(() => checkPluginName("@lab/selectiv-plugin-rwkv")).not.toThrow();
  });

  it("derives the model id from the name and checks it against the registry's rule", () => {
    expect(modelIdFor("selectiv-plugin-gated-input")).toBe("gated-input");
    expect(modelIdFor("@lab/selectiv-plugin-rwkv")).toBe("rwkv");
    expect(modelIdFor("my-lrm")).toBe("my-lrm");
  });

  it("pins the same TypeScript and vitest ranges as the workspace, and leaves no placeholder", () => {
    const workspace = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    for (const [tool, range] of Object.entries(PLUGIN_TOOL_VERSIONS)) expect(range, tool).toBe(workspace.devDependencies[tool]);
    for (const [path, text] of renderPlugin({ name: "selectiv-plugin-x", modelId: "x", coreDependency: "link:/core" })) {
      expect(text, path).not.toMatch(/\{\{\w+\}\}/);
    }
  });
});

/** A package in `project`'s node_modules with the selectiv-plugin keyword, declared in its package.json unless told. */
function installPlugin(project: string, name: string, entry: string, pjson: Record<string, unknown> = {}, declare = true): void {
  if (declare) {
    const projectJson = join(project, "package.json");
    const current = existsSync(projectJson) ? (JSON.parse(readFileSync(projectJson, "utf8")) as { dependencies?: object }) : {};
    writeFileSync(projectJson, JSON.stringify({ ...current, dependencies: { ...current.dependencies, [name]: "*" } }));
  }
  const dir = join(project, "node_modules", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({
      name,
      type: "module",
      main: "index.js",
      keywords: ["selectiv-plugin"],
      selectiv: { apiVersion: PLUGIN_API_VERSION },
      ...pjson,
    }),
  );
  writeFileSync(join(dir, "index.js"), entry);
}

/** The model ids and the warning lines of `selectiv models list --json` run in `project`. */
function modelsListIn(project: string, env: Record<string, string> = {}): { ids: string[]; warnings: string[] } {
  const r = selectiv(["models", "list", "--json"], { cwd: project, env });
  expect(r.status, r.stderr).toBe(0);
  return {
    ids: (JSON.parse(r.stdout) as { models: { id: string }[] }).models.map((m) => m.id),
    warnings: r.stderr.split("\n").filter((l) => l.trim()),
  };
}

/** A plugin entry that registers these models in order; `broken` ones lack createLayer. */
function registeringEntry(models: { id: string; broken?: boolean }[]): string {
  const definitions = models.map(
    (m) =>
      `  host.registerModel({ id: ${JSON.stringify(m.id)}, description: "test", schema: {}, defaults: {}, ` +
      `taxonomy: { transition: "scalar", stateSize: () => 0 }, ${m.broken ? "" : "createLayer() {}, "}parametersPerLayer: () => 0 });`,
  );
  return `export function register(host) {\n${definitions.join("\n")}\n}\n`;
}

describe("broken plugins", () => {
  it("each costs exactly one warning line naming the problem, and a built-in model still runs in the same invocation", () => {
    const project = tempDir("broken");
    installPlugin(project, "selectiv-plugin-throws", 'throw new Error("cannot load\\nsecond line");\n');
    installPlugin(project, "selectiv-plugin-future", "export function register() {}\n", {
      selectiv: { apiVersion: PLUGIN_API_VERSION + 1 },
    });
    // A well-formed definition, so that the registry refuses it for its id and nothing else.
    installPlugin(
      project,
      "selectiv-plugin-clash",
      `export function register(host) {
  host.registerModel({
    id: "gla",
    description: "not the built-in GLA",
    schema: {},
    defaults: {},
    taxonomy: { transition: "scalar", stateSize: () => 0 },
    createLayer() { throw new Error("unreachable"); },
    parametersPerLayer: () => 0,
  });
}
`,
    );
    const r = selectiv(["bench", "run", "--preset", "smoke", "--model", "gla", "--json", "--out", tempDir("broken-out")], { cwd: project });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { runs: { model: string; status: string }[] }).runs[0]).toMatchObject({
      model: "gla",
      status: "completed",
    });
    const lines = r.stderr.split("\n");
    expect(lines.filter((l) => l.startsWith("warning:"))).toHaveLength(3);
    const expected: [string, RegExp][] = [
      ["selectiv-plugin-throws", /^warning: plugin selectiv-plugin-throws: skipped: Error: cannot load$/],
      [
        "selectiv-plugin-future",
        new RegExp(
          `^warning: plugin selectiv-plugin-future: skipped: built for plugin API version ${PLUGIN_API_VERSION + 1}, this selectiv has version ${PLUGIN_API_VERSION}$`,
        ),
      ],
      [
        "selectiv-plugin-clash",
        /^warning: plugin selectiv-plugin-clash: skipped: .*model id "gla" is already registered by built-in; choose another id$/,
      ],
    ];
    for (const [name, message] of expected) {
      const mentions = lines.filter((l) => l.includes(name));
      expect(mentions, name).toHaveLength(1);
      expect(mentions[0]).toMatch(message);
    }
  });
});

describe("plugin loading guards", () => {
  it("a plugin that never finishes loading is skipped after the timeout with one line naming it; built-ins still list", () => {
    const project = tempDir("hang");
    installPlugin(project, "selectiv-plugin-hangs", "await new Promise(() => {});\nexport function register() {}\n");
    installPlugin(project, "selectiv-plugin-hangs-in-register", "export function register() { return new Promise(() => {}); }\n");
    const { ids, warnings } = modelsListIn(project, { SELECTIV_PLUGIN_TIMEOUT_MS: "1000" });
    expect(ids).toEqual(expect.arrayContaining(["gla", "mamba"]));
    expect(warnings).toEqual([
      "warning: plugin selectiv-plugin-hangs: skipped: did not finish loading within 1 s (SELECTIV_PLUGIN_TIMEOUT_MS sets the limit in ms)",
      "warning: plugin selectiv-plugin-hangs-in-register: skipped: did not finish loading within 1 s (SELECTIV_PLUGIN_TIMEOUT_MS sets the limit in ms)",
    ]);
    const bad = selectiv(["models", "list"], { cwd: project, env: { SELECTIV_PLUGIN_TIMEOUT_MS: "soon" } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim()).toBe(
      'selectiv: SELECTIV_PLUGIN_TIMEOUT_MS: got "soon"; expected an integer number of milliseconds in [1, 2147483647]',
    );
  });

  it("registration is all or nothing: a plugin whose second model is invalid registers neither", () => {
    const project = tempDir("half");
    installPlugin(project, "selectiv-plugin-half", registeringEntry([{ id: "half-first" }, { id: "half-second", broken: true }]));
    installPlugin(project, "selectiv-plugin-twice", registeringEntry([{ id: "twice" }, { id: "twice" }]));
    installPlugin(project, "selectiv-plugin-whole", registeringEntry([{ id: "whole-first" }, { id: "whole-second" }]));
    const { ids, warnings } = modelsListIn(project);
    expect(ids).toEqual(expect.arrayContaining(["gla", "whole-first", "whole-second"]));
    expect(ids).not.toContain("half-first");
    expect(ids).not.toContain("twice");
    expect(warnings).toEqual([
      'warning: plugin selectiv-plugin-half: skipped: plugin selectiv-plugin-half: model "half-second": createLayer must be a function',
      'warning: plugin selectiv-plugin-twice: skipped: plugin selectiv-plugin-twice: model id "twice" is registered twice; give each definition its own id',
    ]);
  });

  it("a local plugin the project does not declare is not loaded, with one notice; SELECTIV_NO_LOCAL_PLUGINS=1 stops the search", () => {
    const project = tempDir("undeclared");
    installPlugin(project, "selectiv-plugin-declared", registeringEntry([{ id: "declared-model" }]));
    // What a downloaded results folder might hold: code nobody asked for.
    installPlugin(project, "selectiv-plugin-foreign", registeringEntry([{ id: "foreign-model" }]), {}, false);
    installPlugin(project, "@lab/selectiv-plugin-scoped", registeringEntry([{ id: "scoped-model" }]), {}, false);
    const found = modelsListIn(project);
    expect(found.ids).toContain("declared-model");
    expect(found.ids).not.toContain("foreign-model");
    expect(found.ids).not.toContain("scoped-model");
    expect(found.warnings).toEqual([
      "warning: not loading plugins in node_modules that package.json does not declare: @lab/selectiv-plugin-scoped, selectiv-plugin-foreign " +
        "(to load one, add it to that package.json's dependencies or `selectiv plugins link` it; " +
        "SELECTIV_NO_LOCAL_PLUGINS=1 turns the node_modules search off)",
    ]);
    const off = modelsListIn(project, { SELECTIV_NO_LOCAL_PLUGINS: "1" });
    expect(off.warnings).toEqual([]);
    expect(off.ids).not.toContain("declared-model");
    expect(off.ids).toContain("gla");
  });
});

describe("docs/PLUGINS.md", () => {
  /** The code blocks that name a file (```ts file=src/index.ts), concatenated per file with a blank line between. */
  function fileBlocks(markdown: string): Map<string, string> {
    const parts = new Map<string, string[]>();
    for (const m of markdown.matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)) {
      parts.set(m[1]!, [...(parts.get(m[1]!) ?? []), m[2]!]);
    }
    return new Map([...parts].map(([path, blocks]) => [path, blocks.join("\n")]));
  }

  it("embeds the scaffold's files exactly (the tutorial's code is the scaffold's code)", () => {
    const blocks = fileBlocks(readFileSync(join(root, "docs/PLUGINS.md"), "utf8"));
    const name = "selectiv-plugin-gated-input";
    const scaffold = renderPlugin({ name, modelId: modelIdFor(name), coreDependency: "link:/path/to/selectiv/packages/core" });
    expect([...blocks.keys()].sort()).toEqual(["package.json", "src/index.ts", "src/model.test.ts", "tsconfig.json"]);
    for (const [path, text] of blocks) {
      // Prettier lays JSON out its own way inside markdown: compare JSON files by value.
      if (path.endsWith(".json")) expect(JSON.parse(text), path).toEqual(JSON.parse(scaffold.get(path)!));
      else expect(text, path).toBe(scaffold.get(path));
    }
  });
});
