import "reflect-metadata";
import { container as rootContainer } from "tsyringe";
import * as core from "../index.js";
import type { ModelDefinition } from "../model.js";
import { type PluginModule, collectingHost } from "../plugin.js";
import { type ModelRegistry, createSelectivContainer } from "../registry.js";
import { Tokens } from "../tokens.js";

/**
 * Calls a plugin's `register(host)` with a host like the CLI's (this TF.js, this core module, the registry's
 * checks) and returns the model it registered under `id`, as the registry holds it.
 */
export async function registeredModel(register: PluginModule["register"], id: string): Promise<ModelDefinition> {
  const container = createSelectivContainer(rootContainer);
  const plugin = collectingHost(container, core, "plugin under test");
  await register(plugin.host);
  plugin.commit();
  const registry = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
  if (!registry.has(id)) {
    throw new Error(`register(host) registered no model ${JSON.stringify(id)}; it registered: ${registry.ids().join(", ") || "(none)"}`);
  }
  return registry.get(id);
}
