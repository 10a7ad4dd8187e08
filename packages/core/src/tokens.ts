/**
 * DI tokens. They are strings, not classes, so that a plugin carrying its own copy of tsyringe (or of this
 * package) registers into the host's container under the same keys.
 */
export const Tokens = {
  /** Every registered ModelDefinition (container.register(Tokens.ModelDefinition, { useValue: def })). */
  ModelDefinition: "selectiv.ModelDefinition",
  /** Every registered TaskDefinition. */
  TaskDefinition: "selectiv.TaskDefinition",
  ModelRegistry: "selectiv.ModelRegistry",
  TaskRegistry: "selectiv.TaskRegistry",
  /** The container itself, so registries can read every registration. */
  Container: "selectiv.Container",
  /** Optional: a GradientHelperFactory (worker threads for `train.workers` > 1), registered by the host. */
  GradientHelperFactory: "selectiv.GradientHelperFactory",
} as const;
