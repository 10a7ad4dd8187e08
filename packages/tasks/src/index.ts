import { registerDefinition } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { task1Definition } from "./task1/index.js";

export * from "./grammar/symbols.js";
export * from "./grammar/grammar.js";
export * from "./grammar/generate.js";
export * from "./grammar/entropy.js";
export * from "./grammar/transitions-format.js";
export * from "./samples/strings.js";
export * from "./samples/gaps.js";
export * from "./samples/generator.js";
export * from "./samples/reference-format.js";
export * from "./grammar-task/config.js";
export * from "./grammar-task/instance.js";
export * from "./grammar-task/baseline.js";
export { task1Definition };

/** Registers the built-in tasks; a new task adds one line here and its own folder. */
export function registerTasks(container: DependencyContainer): void {
  registerDefinition(container, "task", task1Definition);
}
