import "reflect-metadata";

export { createContainer, pluginCandidates, type ContainerOptions } from "./container.js";
export { writeResultsIndex } from "./results-index.js";
