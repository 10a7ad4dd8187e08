import { registerDefinition } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { referenceDatasetDefinition } from "./reference-dataset/index.js";
import { task1Definition } from "./task1/index.js";
import { task2Definition } from "./task2/index.js";
import { task3Definition } from "./task3/index.js";
import { task4Definition } from "./task4/index.js";

export * from "./grammar/symbols.js";
export * from "./grammar/grammar.js";
export * from "./grammar/generate.js";
export * from "./grammar/entropy.js";
export * from "./grammar/transitions-format.js";
export * from "./grammar/render.js";
export * from "./samples/strings.js";
export * from "./samples/gaps.js";
export * from "./samples/generator.js";
export * from "./samples/reference-format.js";
export * from "./grammar-task/config.js";
export * from "./grammar-task/instance.js";
export * from "./grammar-task/class-shares.js";
export * from "./grammar-task/ceiling.js";
export * from "./grammar-task/prediction.js";
export * from "./reference-dataset/read.js";
export * from "./reference-dataset/definition.js";
export * from "./dataset/write.js";
export * from "./dataset/cache.js";
export * from "./dataset/stats.js";
export * from "./dataset/selection.js";
export * from "./dataset/sample-view.js";
export * from "./task1/definition.js";
export { task2Definition, task3Definition, task4Definition };

/** The built-in tasks, in the order `selectiv tasks list` shows them; a new task adds its folder and one entry here. */
export const builtInTasks = [task1Definition, task2Definition, task3Definition, task4Definition, referenceDatasetDefinition] as const;

/** Registers the built-in tasks. */
export function registerTasks(container: DependencyContainer): void {
  for (const definition of builtInTasks) registerDefinition(container, "task", definition);
}
