import "reflect-metadata";
import {
  type Batch,
  type BenchmarkHooks,
  type BenchmarkReport,
  type BenchmarkRequest,
  type Config,
  type ModelDefinition,
  type ModelRegistry,
  type PresetName,
  type Split,
  type TaskDefinition,
  type TaskRegistry,
  Tokens,
  emptyOverrides,
  headsForWidth,
  registerDefinition,
  resolveConfig,
  runBenchmark,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { type ContainerOptions, createContainer } from "./container.js";
import { type ImportWeightsOptions, type WeightsExport, type WeightsImport, exportRunWeights, importRunWeights } from "./weights.js";

/** A registered model as the library reports it. */
export interface ModelInfo {
  id: string;
  description: string;
  owner: string;
  transition: string;
  parametersPerLayer: number;
  stateSizePerLayer: number;
  defaults: Config;
}

export interface TaskInfo {
  id: string;
  description: string;
  owner: string;
  defaults: Config;
}

/** What to run; every field but tasks and models has the CLI's default. */
export type RunOptions = Pick<BenchmarkRequest, "tasks" | "models"> & Partial<Omit<BenchmarkRequest, "tasks" | "models">>;

export interface GenerateOptions {
  preset?: PresetName;
  config?: Record<string, unknown>;
  seed?: number;
  split?: Split;
  start?: number;
  count?: number;
}

/**
 * The embedding entry point: the same registries, plugins, validation and trainer as the `selectiv` command.
 *
 *   const selectiv = await Selectiv.create();
 *   const report = await selectiv.run({ tasks: ["task1"], models: ["gla"], preset: "smoke" });
 */
export class Selectiv {
  private constructor(readonly container: DependencyContainer) {}

  /** Registers the built-in tasks and models and loads plugins (options as for the CLI; none by default). */
  static async create(options: ContainerOptions = {}): Promise<Selectiv> {
    return new Selectiv(await createContainer(options));
  }

  models(width = 256): ModelInfo[] {
    const h = headsForWidth(width);
    return this.container
      .resolve<ModelRegistry>(Tokens.ModelRegistry)
      .list()
      .map((m: ModelDefinition & { owner?: string }) => ({
        id: m.id,
        description: m.description,
        owner: m.owner ?? "built-in",
        transition: m.taxonomy.transition,
        parametersPerLayer: m.parametersPerLayer(width, h, m.defaults),
        stateSizePerLayer: m.taxonomy.stateSize(width, h),
        defaults: m.defaults,
      }));
  }

  tasks(): TaskInfo[] {
    return this.container
      .resolve<TaskRegistry>(Tokens.TaskRegistry)
      .list()
      .map((t: TaskDefinition & { owner?: string }) => ({
        id: t.id,
        description: t.description,
        owner: t.owner ?? "built-in",
        defaults: t.defaults,
      }));
  }

  registerModel(definition: ModelDefinition, owner = "library"): void {
    registerDefinition(this.container, "model", definition, owner);
  }

  registerTask(definition: TaskDefinition, owner = "library"): void {
    registerDefinition(this.container, "task", definition, owner);
  }

  /** Trains and evaluates every (task, model, seed); results also land in `outDir` as the CLI writes them. */
  run(options: RunOptions, hooks: BenchmarkHooks = {}): Promise<BenchmarkReport> {
    return runBenchmark(
      this.container,
      {
        seeds: [1],
        preset: "quick",
        overrides: emptyOverrides(),
        backend: "auto",
        outDir: "results",
        ...options,
      },
      hooks,
    );
  }

  /** `selectiv weights export`: the run's weights as safetensors in the reference's PyTorch names (docs/WEIGHTS.md). */
  exportWeights(runDir: string, out?: string): Promise<WeightsExport> {
    return exportRunWeights(this.container, runDir, out);
  }

  /** `selectiv weights import`: a run folder (config.json, checkpoint) from such a file, ready for `eval`. */
  importWeights(file: string, options: ImportWeightsOptions): Promise<WeightsImport> {
    return importRunWeights(this.container, file, options);
  }

  /** Samples `start .. start+count−1` of a task's split as a padded batch (a pure function of its arguments). */
  generate(taskId: string, options: GenerateOptions = {}): Batch {
    const task = this.container.resolve<TaskRegistry>(Tokens.TaskRegistry).get(taskId);
    const preset = options.preset ?? "quick";
    const config = resolveConfig(
      task.schema,
      { ...task.defaults, ...task.presets[preset] } as Config,
      options.config ?? {},
      `task ${taskId}`,
    );
    return task.create(config, options.seed ?? 1).batch(options.split ?? "train", options.start ?? 0, options.count ?? 1);
  }
}
