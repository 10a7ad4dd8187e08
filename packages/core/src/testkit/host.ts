import "reflect-metadata";
import { container as rootContainer } from "tsyringe";
import * as core from "../index.js";
import type { ModelDefinition } from "../model.js";
import { PLUGIN_API_VERSION, type PluginHost, type PluginModule } from "../plugin.js";
import { type ModelRegistry, createSelectivContainer, registerDefinition } from "../registry.js";
import { tf } from "../tf.js";
import { Tokens } from "../tokens.js";

/**
 * Calls a plugin's `register(host)` with a host like the CLI's (this TF.js, this core module, the registry's
 * checks) and returns the model it registered under `id`, as the registry holds it.
 */
export async function registeredModel(register: PluginModule["register"], id: string): Promise<ModelDefinition> {
  const container = createSelectivContainer(rootContainer);
  const owner = "plugin under test";
  const host: PluginHost = {
    apiVersion: PLUGIN_API_VERSION,
    container,
    tf,
    core,
    registerModel: (d) => registerDefinition(container, "model", d as { id: string; description: string }, owner),
    registerTask: (d) => registerDefinition(container, "task", d as { id: string; description: string }, owner),
  };
  await register(host);
  const registry = container.resolve<ModelRegistry>(Tokens.ModelRegistry);
  if (!registry.has(id)) {
    throw new Error(`register(host) registered no model ${JSON.stringify(id)}; it registered: ${registry.ids().join(", ") || "(none)"}`);
  }
  return registry.get(id);
}
