import { registerDefinition } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { glaDefinition } from "./gla/definition.js";

export { glaDefinition } from "./gla/definition.js";
export { GatedLinearAttention } from "./gla/layer.js";
export { glaDefaults, glaSchema, type GlaConfig } from "./gla/config.js";

/** Every built-in model, one folder each; adding a model means adding it here. */
export const builtInModels = [glaDefinition] as const;

/** Registers the built-in models in a selectiv container. */
export function registerModels(container: DependencyContainer): void {
  for (const definition of builtInModels) registerDefinition(container, "model", definition);
}
