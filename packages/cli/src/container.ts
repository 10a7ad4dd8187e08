import "reflect-metadata";
import * as core from "@selectiv/core";
import {
  Tokens,
  createSelectivContainer,
  findNodeModulesPlugins,
  isPluginPackage,
  loadPlugins,
  type PluginCandidate,
} from "@selectiv/core";
import { workerThreadHelpers } from "./parallel/worker-pool.js";
import { registerModels } from "@selectiv/models";
import { registerTasks } from "@selectiv/tasks";
import { container as rootContainer, type DependencyContainer } from "tsyringe";

export interface ContainerOptions {
  /** Plugins installed or linked through oclif (`selectiv plugins install|link`). */
  readonly oclifPlugins?: ReadonlyArray<{ name: string; root: string; pjson: unknown }>;
  /** Folder whose node_modules is searched for packages with the `selectiv-plugin` keyword. */
  readonly projectDir?: string;
  /** Plugins already found (a worker thread loads its parent's list); replaces the two searches above. */
  readonly candidates?: readonly PluginCandidate[];
  readonly warn?: (line: string) => void;
}

/** Every place plugins are found: oclif's plugin list, then the project's node_modules. */
export function pluginCandidates(options: ContainerOptions): PluginCandidate[] {
  const out: PluginCandidate[] = [];
  for (const p of options.oclifPlugins ?? []) {
    if (isPluginPackage(p.pjson as Parameters<typeof isPluginPackage>[0])) out.push({ name: p.name, root: p.root, source: "oclif" });
  }
  if (options.projectDir) out.push(...findNodeModulesPlugins(options.projectDir));
  return out;
}

/**
 * A container with the built-in tasks and models and every plugin that loads, and worker threads for
 * `train.workers` > 1 (Tokens.GradientHelperFactory), which load the same plugins.
 */
export async function createContainer(options: ContainerOptions = {}): Promise<DependencyContainer> {
  const c = createSelectivContainer(rootContainer);
  registerTasks(c);
  registerModels(c);
  const candidates = options.candidates ?? pluginCandidates(options);
  const loaded = await loadPlugins(c, candidates, core, options.warn ?? ((line) => process.stderr.write(`warning: ${line}\n`)));
  c.register(Tokens.GradientHelperFactory, { useValue: workerThreadHelpers(candidates.filter((p) => loaded.includes(p.name))) });
  return c;
}
