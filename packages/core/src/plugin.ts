import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { DependencyContainer } from "tsyringe";
import { SelectivError, oneLine } from "./errors.js";
import { type PendingDefinition, registerDefinitions } from "./registry.js";
import { tf } from "./tf.js";

/** Bumped when the plugin contract changes incompatibly. */
export const PLUGIN_API_VERSION = 1;

/** The package.json keyword that marks a selectiv plugin. */
export const PLUGIN_KEYWORD = "selectiv-plugin";

/** How long one plugin may take to load and register before it is skipped (SELECTIV_PLUGIN_TIMEOUT_MS changes it). */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 30_000;

/** The plugin load timeout: `SELECTIV_PLUGIN_TIMEOUT_MS`, else the default; a malformed value is a one-line error. */
export function pluginTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SELECTIV_PLUGIN_TIMEOUT_MS;
  if (text === undefined || text.trim() === "") return DEFAULT_PLUGIN_TIMEOUT_MS;
  const ms = Number(text);
  // setTimeout's largest delay.
  if (!Number.isInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) {
    throw new SelectivError(
      `SELECTIV_PLUGIN_TIMEOUT_MS: got ${JSON.stringify(text)}; expected an integer number of milliseconds in [1, 2147483647]`,
    );
  }
  return ms;
}

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
  return nodeModulesPlugins(dir).map(({ candidate }) => candidate);
}

/** Each plugin package in `<dir>/node_modules` with its folder name there (the name a package.json depends on). */
function nodeModulesPlugins(dir: string): { folder: string; candidate: PluginCandidate }[] {
  const base = join(dir, "node_modules");
  if (!existsSync(base)) return [];
  const folders: string[] = [];
  for (const entry of readdirSync(base)) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) {
      for (const sub of readdirSync(join(base, entry))) folders.push(`${entry}/${sub}`);
    } else folders.push(entry);
  }
  const found: { folder: string; candidate: PluginCandidate }[] = [];
  for (const folder of folders) {
    const root = join(base, folder);
    const pjson = readPluginPackage(root);
    if (isPluginPackage(pjson)) found.push({ folder, candidate: { name: pjson!.name ?? root, root, source: "node_modules" } });
  }
  return found;
}

/** The package names `<dir>/package.json` depends on (dependencies, devDependencies, optional and peer). */
function declaredDependencies(dir: string): Set<string> {
  const pjson = readPluginPackage(dir) as Record<string, unknown> | undefined;
  const names = new Set<string>();
  for (const field of ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"]) {
    const deps = pjson?.[field];
    if (deps && typeof deps === "object") for (const name of Object.keys(deps)) names.add(name);
  }
  return names;
}

/**
 * The plugins in `<dir>/node_modules`, split by whether `<dir>/package.json` declares them as dependencies. Only
 * declared ones are meant to load: a folder that merely holds a node_modules (a downloaded results folder, say)
 * must not run its code unasked.
 */
export function findLocalPlugins(dir: string): { declared: PluginCandidate[]; undeclared: PluginCandidate[] } {
  const dependencies = declaredDependencies(dir);
  const declared: PluginCandidate[] = [];
  const undeclared: PluginCandidate[] = [];
  for (const { folder, candidate } of nodeModulesPlugins(dir)) (dependencies.has(folder) ? declared : undeclared).push(candidate);
  return { declared, undeclared };
}

function entryFile(root: string, pjson: PluginPackageJson): string {
  const reg = pjson.selectiv?.register;
  if (typeof reg === "string") return join(root, reg);
  return join(root, pjson.main ?? "index.js");
}

/**
 * A host whose `registerModel`/`registerTask` only collect: `commit()` checks every collected definition and
 * registers all of them or none (a plugin reported as skipped leaves nothing behind), and after `close()` further
 * registrations (from a plugin given up on, finishing late) are dropped.
 */
export function collectingHost(
  container: DependencyContainer,
  core: Readonly<Record<string, unknown>>,
  owner: string,
): { host: PluginHost; commit(): void; close(): void } {
  const pending: PendingDefinition[] = [];
  let open = true;
  const collect = (kind: PendingDefinition["kind"]) => (definition: object) => {
    if (open) pending.push({ kind, definition: definition as PendingDefinition["definition"] });
  };
  return {
    host: { apiVersion: PLUGIN_API_VERSION, container, tf, core, registerModel: collect("model"), registerTask: collect("task") },
    commit: () => registerDefinitions(container, pending, owner),
    close: () => {
      open = false;
    },
  };
}

/** `work`, or a rejection with `timeoutError()` once `ms` have passed; the timer never outlives the race. */
async function settleWithin<T>(work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Imports a plugin's entry and runs its `register(host)`. */
async function importAndRegister(root: string, pjson: PluginPackageJson, host: PluginHost): Promise<void> {
  const mod = (await import(pathToFileURL(entryFile(root, pjson)).href)) as Partial<PluginModule> & { default?: Partial<PluginModule> };
  const register = mod.register ?? mod.default?.register;
  if (typeof register !== "function") throw new SelectivError("its entry exports no register(host) function");
  await register(host);
}

/**
 * Loads plugins one by one. A plugin that is incompatible, throws, registers anything invalid, or does not finish
 * loading within `timeoutMs` (a top-level await or `register` that never settles would otherwise leave Node with
 * nothing to run: exit 13, no output) costs one warning line (through `warn`), registers nothing, and does not
 * stop the others. Returns the names of the plugins that loaded.
 */
export async function loadPlugins(
  container: DependencyContainer,
  candidates: readonly PluginCandidate[],
  core: Readonly<Record<string, unknown>>,
  warn: (line: string) => void,
  timeoutMs = pluginTimeoutMs(),
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
    const plugin = collectingHost(container, core, `plugin ${c.name}`);
    try {
      await settleWithin(
        importAndRegister(c.root, pjson, plugin.host),
        timeoutMs,
        () => new SelectivError(`did not finish loading within ${timeoutMs / 1000} s (SELECTIV_PLUGIN_TIMEOUT_MS sets the limit in ms)`),
      );
      plugin.commit();
      loaded.push(c.name);
    } catch (e) {
      warn(`plugin ${c.name}: skipped: ${oneLine(e)}`);
    } finally {
      plugin.close();
    }
  }
  return loaded;
}
