import "reflect-metadata";
import * as core from "@selectiv/core";
import { Tokens, createSelectivContainer, findLocalPlugins, isPluginPackage, loadPlugins, type PluginCandidate } from "@selectiv/core";
import { join, relative } from "node:path";
import { workerThreadHelpers } from "./parallel/worker-pool.js";
import { registerModels } from "@selectiv/models";
import { registerTasks } from "@selectiv/tasks";
import { container as rootContainer, type DependencyContainer } from "tsyringe";

export interface ContainerOptions {
  /** Plugins installed or linked through oclif (`selectiv plugins install|link`). */
  readonly oclifPlugins?: ReadonlyArray<{ name: string; root: string; pjson: unknown }>;
  /**
   * Folder whose node_modules is searched for packages with the `selectiv-plugin` keyword; those its package.json
   * declares as dependencies load. `SELECTIV_NO_LOCAL_PLUGINS=1` turns the search off.
   */
  readonly projectDir?: string;
  /** Plugins already found (a worker loads its parent's list); replaces the two searches above. */
  readonly candidates?: readonly PluginCandidate[];
  readonly warn?: (line: string) => void;
}

/** What the plugin searches found: the plugins to load, and local ones left out because nothing declares them. */
export interface FoundPlugins {
  readonly candidates: PluginCandidate[];
  readonly undeclared: PluginCandidate[];
}

/** True when `SELECTIV_NO_LOCAL_PLUGINS` is set to anything but "" or "0". */
export function localPluginsDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.SELECTIV_NO_LOCAL_PLUGINS?.trim();
  return value !== undefined && value !== "" && value !== "0";
}

/**
 * Every place plugins are found: oclif's plugin list, then the project's node_modules (unless turned off). A
 * local plugin loads when the project's package.json declares it or it is also linked; the rest are `undeclared`.
 */
export function findPlugins(options: ContainerOptions): FoundPlugins {
  const candidates: PluginCandidate[] = [];
  for (const p of options.oclifPlugins ?? []) {
    if (isPluginPackage(p.pjson as Parameters<typeof isPluginPackage>[0])) candidates.push({ name: p.name, root: p.root, source: "oclif" });
  }
  if (!options.projectDir || localPluginsDisabled()) return { candidates, undeclared: [] };
  const local = findLocalPlugins(options.projectDir);
  const linked = new Set(candidates.map((c) => c.name));
  candidates.push(...local.declared);
  return { candidates, undeclared: local.undeclared.filter((c) => !linked.has(c.name)) };
}

/** The plugins that `createContainer` would load with these options. */
export function pluginCandidates(options: ContainerOptions): PluginCandidate[] {
  return findPlugins(options).candidates;
}

/** The one line that names the local plugins not loaded, how to load one, and how to stop looking. */
export function undeclaredPluginsNotice(projectDir: string, undeclared: readonly PluginCandidate[]): string {
  const dir = relative(process.cwd(), projectDir) || ".";
  return (
    `not loading plugins in ${join(dir, "node_modules")} that ${join(dir, "package.json")} does not declare: ` +
    `${undeclared.map((c) => c.name).join(", ")} (to load one, add it to that package.json's dependencies or ` +
    "`selectiv plugins link` it; SELECTIV_NO_LOCAL_PLUGINS=1 turns the node_modules search off)"
  );
}

/**
 * A container with the built-in tasks and models and every plugin that loads, and worker threads for
 * `train.workers` > 1 (Tokens.GradientHelperFactory), which load the same plugins.
 */
export async function createContainer(options: ContainerOptions = {}): Promise<DependencyContainer> {
  const c = createSelectivContainer(rootContainer);
  registerTasks(c);
  registerModels(c);
  const warn = options.warn ?? ((line) => process.stderr.write(`warning: ${line}\n`));
  const found: FoundPlugins = options.candidates ? { candidates: [...options.candidates], undeclared: [] } : findPlugins(options);
  if (found.undeclared.length) warn(undeclaredPluginsNotice(options.projectDir!, found.undeclared));
  const loaded = await loadPlugins(c, found.candidates, core, warn);
  c.register(Tokens.GradientHelperFactory, { useValue: workerThreadHelpers(found.candidates.filter((p) => loaded.includes(p.name))) });
  return c;
}
