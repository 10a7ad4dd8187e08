import "reflect-metadata";
import * as core from "@selectiv/core";
import { createSelectivContainer, findNodeModulesPlugins, isPluginPackage, loadPlugins, type PluginCandidate } from "@selectiv/core";
import { registerModels } from "@selectiv/models";
import { registerTasks } from "@selectiv/tasks";
import { container as rootContainer, type DependencyContainer } from "tsyringe";

export interface ContainerOptions {
  /** Plugins installed or linked through oclif (`selectiv plugins install|link`). */
  readonly oclifPlugins?: ReadonlyArray<{ name: string; root: string; pjson: unknown }>;
  /** Folder whose node_modules is searched for packages with the `selectiv-plugin` keyword. */
  readonly projectDir?: string;
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

/** A container with the built-in tasks and models and every plugin that loads. */
export async function createContainer(options: ContainerOptions = {}): Promise<DependencyContainer> {
  const c = createSelectivContainer(rootContainer);
  registerTasks(c);
  registerModels(c);
  await loadPlugins(c, pluginCandidates(options), core, options.warn ?? ((line) => process.stderr.write(`warning: ${line}\n`)));
  return c;
}
