import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { DependencyContainer } from "tsyringe";
import { oneLine } from "./errors.js";
import { registerDefinition } from "./registry.js";
import { tf } from "./tf.js";

/** Bumped when the plugin contract changes incompatibly. */
export const PLUGIN_API_VERSION = 1;

/** The package.json keyword that marks a selectiv plugin. */
export const PLUGIN_KEYWORD = "selectiv-plugin";

/**
 * What a plugin's `register(host)` receives. A plugin uses the host's TF.js and core parts (not its own copies,
 * which would live in a different TF.js engine) and registers definitions by string token.
 */
export interface PluginHost {
  readonly apiVersion: number;
  readonly container: DependencyContainer;
  readonly tf: typeof tf;
  /** The host's @selectiv/core module (layers, recurrence engine, config helpers, ...). */
  readonly core: Readonly<Record<string, unknown>>;
  registerModel(definition: object): void;
  registerTask(definition: object): void;
}

/** A plugin module: `export function register(host)` (or a default export with `register`). */
export interface PluginModule {
  register(host: PluginHost): void | Promise<void>;
}

export interface PluginCandidate {
  /** Package name. */
  readonly name: string;
  /** Package root folder. */
  readonly root: string;
  /** How it was found: "oclif" (selectiv plugins install|link) or "node_modules". */
  readonly source: string;
}

interface PluginPackageJson {
  name?: string;
  main?: string;
  exports?: unknown;
  keywords?: unknown;
  selectiv?: { apiVersion?: unknown; register?: unknown };
}

export function readPluginPackage(root: string): PluginPackageJson | undefined {
  try {
    return JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PluginPackageJson;
  } catch {
    return undefined;
  }
}

export function isPluginPackage(pjson: PluginPackageJson | undefined): boolean {
  return !!pjson && ((Array.isArray(pjson.keywords) && pjson.keywords.includes(PLUGIN_KEYWORD)) || typeof pjson.selectiv === "object");
}

/** Packages in `<dir>/node_modules` (scoped ones included) whose package.json marks them as selectiv plugins. */
export function findNodeModulesPlugins(dir: string): PluginCandidate[] {
  const base = join(dir, "node_modules");
  if (!existsSync(base)) return [];
  const roots: string[] = [];
  for (const entry of readdirSync(base)) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) {
      for (const sub of readdirSync(join(base, entry))) roots.push(join(base, entry, sub));
    } else roots.push(join(base, entry));
  }
  const found: PluginCandidate[] = [];
  for (const root of roots) {
    const pjson = readPluginPackage(root);
    if (isPluginPackage(pjson)) found.push({ name: pjson!.name ?? root, root, source: "node_modules" });
  }
  return found;
}

function entryFile(root: string, pjson: PluginPackageJson): string {
  const reg = pjson.selectiv?.register;
  if (typeof reg === "string") return join(root, reg);
  return join(root, pjson.main ?? "index.js");
}

/**
 * Loads plugins one by one. A plugin that is incompatible or throws while loading costs one warning line
 * (through `warn`) and does not stop the others. Returns the names of the plugins that loaded.
 */
export async function loadPlugins(
  container: DependencyContainer,
  candidates: readonly PluginCandidate[],
  core: Readonly<Record<string, unknown>>,
  warn: (line: string) => void,
): Promise<string[]> {
  const loaded: string[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    const pjson = readPluginPackage(c.root);
    if (!pjson) {
      warn(`plugin ${c.name}: skipped: no readable package.json in ${c.root}`);
      continue;
    }
    const declared = pjson.selectiv?.apiVersion;
    if (declared !== undefined && declared !== PLUGIN_API_VERSION) {
      warn(
        `plugin ${c.name}: skipped: built for plugin API version ${JSON.stringify(declared)}, this selectiv has version ${PLUGIN_API_VERSION}`,
      );
      continue;
    }
    const owner = `plugin ${c.name}`;
    const host: PluginHost = {
      apiVersion: PLUGIN_API_VERSION,
      container,
      tf,
      core,
      registerModel: (d) => registerDefinition(container, "model", d as { id: string; description: string }, owner),
      registerTask: (d) => registerDefinition(container, "task", d as { id: string; description: string }, owner),
    };
    try {
      const mod = (await import(pathToFileURL(entryFile(c.root, pjson)).href)) as Partial<PluginModule> & {
        default?: Partial<PluginModule>;
      };
      const register = mod.register ?? mod.default?.register;
      if (typeof register !== "function") {
        warn(`plugin ${c.name}: skipped: its entry exports no register(host) function`);
        continue;
      }
      await register(host);
      loaded.push(c.name);
    } catch (e) {
      warn(`plugin ${c.name}: skipped: ${oneLine(e)}`);
    }
  }
  return loaded;
}
