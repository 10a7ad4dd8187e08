import "reflect-metadata";

export { Selectiv, readResults, type GenerateOptions, type ModelInfo, type RunOptions, type TaskInfo } from "./library.js";
export { createContainer, pluginCandidates, type ContainerOptions } from "./container.js";
export { writeResultsIndex } from "./results-index.js";
export * from "@selectiv/core";
