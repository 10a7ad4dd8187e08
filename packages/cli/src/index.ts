import "reflect-metadata";

export { Selectiv, type GenerateOptions, type ModelInfo, type RunOptions, type TaskInfo } from "./library.js";
export {
  WEIGHTS_METADATA,
  exportRunWeights,
  importRunWeights,
  type ImportWeightsOptions,
  type WeightsExport,
  type WeightsImport,
} from "./weights.js";
export { createContainer, findPlugins, pluginCandidates, type ContainerOptions, type FoundPlugins } from "./container.js";
export * from "@selectiv/core";
