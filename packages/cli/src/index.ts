import "reflect-metadata";

export { Selectiv, type GenerateOptions, type ModelInfo, type RunOptions, type TaskInfo } from "./library.js";
export { createContainer, pluginCandidates, type ContainerOptions } from "./container.js";
export * from "@selectiv/core";
