// `selectiv plugins new`: a plugin package rendered from the templates in packages/cli/templates/plugin.
import { PLUGIN_API_VERSION, PLUGIN_KEYWORD, SelectivError } from "@selectiv/core";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const PLUGIN_TEMPLATE_DIR = fileURLToPath(new URL("../templates/plugin/", import.meta.url));

/** npm package names: lower-case, optionally scoped; at most 214 characters. */
const PACKAGE_NAME_PATTERN = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
/** The registry's rule for model ids (registerDefinition). */
const MODEL_ID_PATTERN = /^[a-z][a-z0-9._-]*$/;
const CONVENTIONAL_PREFIX = "selectiv-plugin-";

/** The tool versions the workspace builds and tests with (plugins.test.ts keeps them in step). */
export const PLUGIN_TOOL_VERSIONS = { typescript: "~5.9.3", vitest: "~4.1.0" } as const;

export interface PluginScaffold {
  /** npm package name. */
  readonly name: string;
  readonly modelId: string;
  /** The devDependency spec of @selectiv/core, e.g. "link:/path/to/selectiv/packages/core". */
  readonly coreDependency: string;
}

export function checkPluginName(name: string): void {
  if (name.length > 214 || !PACKAGE_NAME_PATTERN.test(name)) {
    throw new SelectivError(
      `plugin name ${JSON.stringify(name)} is not allowed; expected an npm package name: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, optionally @scope/ before it (e.g. ${CONVENTIONAL_PREFIX}my-lrm)`,
    );
  }
}

/** The model id a name implies: the name without its scope and the conventional "selectiv-plugin-" prefix. */
export function modelIdFor(name: string): string {
  const bare = name.replace(/^@[^/]+\//, "");
  return bare.startsWith(CONVENTIONAL_PREFIX) && bare.length > CONVENTIONAL_PREFIX.length ? bare.slice(CONVENTIONAL_PREFIX.length) : bare;
}

/** A model id must follow the registry's rule and must not be taken by a built-in model. */
export function checkModelId(id: string, builtInIds: readonly string[], flag: string): void {
  if (!MODEL_ID_PATTERN.test(id)) {
    throw new SelectivError(
      `${flag}: model id ${JSON.stringify(id)} is not allowed; expected lower-case letters, digits, '.', '_' or '-', starting with a letter`,
    );
  }
  if (builtInIds.includes(id)) {
    throw new SelectivError(`${flag}: model id ${JSON.stringify(id)} is a built-in model's id; plugins cannot shadow it, choose another`);
  }
}

/**
 * @selectiv/core is not on npm: the scaffold links the package folder that the running CLI itself uses, so that
 * `pnpm install` works offline and the plugin's tests run against the same core as the CLI that will load it.
 */
export function runningCoreDependency(): string {
  const corePackageJson = createRequire(import.meta.url).resolve("@selectiv/core/package.json");
  return `link:${dirname(corePackageJson)}`;
}

function templateFiles(dir = PLUGIN_TEMPLATE_DIR): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? templateFiles(path) : [path];
    });
}

// npm leaves .gitignore files out of published packages, so the template keeps it without the dot.
const outputPath = (templatePath: string) => (templatePath === "gitignore" ? ".gitignore" : templatePath);

function packageJson(s: PluginScaffold): string {
  const pjson = {
    name: s.name,
    version: "0.1.0",
    description: `A selectiv plugin: the ${s.modelId} LRM, a gated linear recurrence with a separate input gate.`,
    type: "module",
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    files: ["dist"],
    keywords: [PLUGIN_KEYWORD],
    selectiv: { apiVersion: PLUGIN_API_VERSION },
    // oclif accepts `selectiv plugins link|install` only for packages with an "oclif" field.
    oclif: {},
    scripts: { build: "tsc -p .", test: "vitest run" },
    devDependencies: { "@selectiv/core": s.coreDependency, ...PLUGIN_TOOL_VERSIONS },
  };
  return `${JSON.stringify(pjson, null, 2)}\n`;
}

/** Every file of the plugin package, by path relative to its folder. */
export function renderPlugin(s: PluginScaffold): Map<string, string> {
  const files = new Map<string, string>([["package.json", packageJson(s)]]);
  for (const path of templateFiles()) {
    const text = readFileSync(path, "utf8").replaceAll("{{PLUGIN_NAME}}", s.name).replaceAll("{{MODEL_ID}}", s.modelId);
    files.set(outputPath(relative(PLUGIN_TEMPLATE_DIR, path).split("\\").join("/")), text);
  }
  return files;
}

/** Writes the files into `dir`, which must be new or empty. */
export function writePlugin(dir: string, files: ReadonlyMap<string, string>): void {
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new SelectivError(`--dir: ${dir} exists and is not an empty folder; choose a new or empty one`);
  }
  for (const [path, text] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}
