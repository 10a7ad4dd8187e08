import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  type BackendPreference,
  type Overrides,
  type PresetName,
  type RunSpec,
  Adam,
  RunFolder,
  SelectivError,
  Tokens,
  type TaskRegistry,
  buildNet,
  currentBackend,
  emptyOverrides,
  ensureWritableDir,
  initBackend,
  loadReferenceStateDict,
  loadTrainedNet,
  parseAssignments,
  planBenchmark,
  readSafetensors,
  referenceStateDict,
  runId,
  transferTrainingSpec,
  writeSafetensors,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { readRunConfig } from "./config-file.js";
import { savedRunSpec } from "./evaluate-run.js";

/**
 * `selectiv weights export|import` (docs/WEIGHTS.md): a run's weights as a safetensors file in the reference
 * RecNet's PyTorch state_dict names and layouts, and a run folder made from such a file.
 */

/** The metadata keys an exported file carries (all strings, as safetensors requires). */
export const WEIGHTS_METADATA = {
  model: "selectiv.model",
  referenceModel: "reference.model",
  referenceModule: "reference.module",
  config: "selectiv.config",
  task: "selectiv.task",
  run: "selectiv.run",
  step: "selectiv.step",
  inputSize: "task.inputSize",
  numClasses: "task.numClasses",
} as const;

export interface WeightsExport {
  file: string;
  runDir: string;
  model: string;
  referenceModule: string;
  tensors: number;
  parameters: number;
  metadata: Record<string, string>;
}

/**
 * Writes the weights of the run in `runDir` (its checkpoint) to `out` (default RUN_DIR/weights.safetensors), float32
 * in the reference's names and layouts, with metadata: the selectiv model id, the reference's model name and
 * module, the run's model and training config (JSON), the task's input size and number of classes.
 */
export async function exportRunWeights(container: DependencyContainer, runDir: string, out?: string): Promise<WeightsExport> {
  const dir = resolve(runDir);
  const saved = readRunConfig(dir, "RUN_DIR");
  if (saved.backend === undefined)
    throw new SelectivError(`${join(dir, "config.json")}: names no backend; the checkpoint loads only on the one that wrote it`);
  const spec = savedRunSpec(container, dir, saved, saved.backend);
  // A transfer run's weights are its training run's (evaluation.ts).
  const weights = spec.task.transfer
    ? transferTrainingSpec(spec, container.resolve<TaskRegistry>(Tokens.TaskRegistry).get(spec.task.transfer.trainTask))
    : spec;
  const folder = new RunFolder(weights);
  const checkpoint = folder.readCheckpoint();
  if (!checkpoint) throw new SelectivError(`${folder.path("checkpoint.bin")}: missing; a run's weights are exported from its checkpoint`);
  // Reading values back works on any backend: keep one already started (the library may have trained on it).
  if (!currentBackend()) await initBackend("cpu");
  const task = weights.task.create(weights.taskConfig, spec.seed);
  const net = loadTrainedNet(weights, task);
  try {
    const tensors = await referenceStateDict(net);
    const layout = net.referenceLayout();
    const metadata: Record<string, string> = {
      format: "pt",
      [WEIGHTS_METADATA.model]: spec.model.id,
      [WEIGHTS_METADATA.referenceModel]: spec.model.referenceNames?.[0] ?? "",
      [WEIGHTS_METADATA.referenceModule]: layout.module,
      [WEIGHTS_METADATA.config]: JSON.stringify({ modelConfig: weights.modelConfig, training: weights.training }),
      [WEIGHTS_METADATA.task]: JSON.stringify({ id: weights.task.id, config: weights.taskConfig }),
      [WEIGHTS_METADATA.run]: runId(weights),
      [WEIGHTS_METADATA.step]: String(checkpoint.meta.step),
      [WEIGHTS_METADATA.inputSize]: String(task.inputSize),
      [WEIGHTS_METADATA.numClasses]: String(task.numClasses),
    };
    const file = resolve(out ?? join(dir, "weights.safetensors"));
    writeSafetensors(file, tensors, metadata);
    return {
      file,
      runDir: dir,
      model: spec.model.id,
      referenceModule: layout.module,
      tensors: tensors.size,
      parameters: net.parameterCount,
      metadata,
    };
  } finally {
    net.dispose();
  }
}

export interface ImportWeightsOptions {
  /** The model id the file holds weights for. */
  model: string;
  /** The task the run is for (default task1, as bench run); it fixes the input size and classes. */
  task?: string;
  preset?: string;
  /** `--set` assignments, as bench run's. */
  assignments?: readonly string[];
  seed?: number;
  backend?: string;
  /** Results folder: the run folder is `<outDir>/<run-id>/`. */
  outDir: string;
}

export interface WeightsImport {
  file: string;
  runDir: string;
  model: string;
  task: string;
  tensors: number;
  parameters: number;
}

/** A metadata number of the file that must equal the task's, else a one-line refusal naming both. */
function checkTaskSize(file: string, metadata: Record<string, string>, key: string, what: string, expected: number, taskId: string): void {
  const recorded = metadata[key];
  if (recorded === undefined || Number(recorded) === expected) return;
  throw new SelectivError(
    `${file}: its weights were exported for ${recorded} ${what} (metadata ${key}); task ${taskId} with these settings has ${expected}: give the --task, --preset and --set it was trained with`,
  );
}

/**
 * For a file we exported: its network's width, layers and heads (metadata selectiv.config) must be the ones these
 * settings give, else a one-line refusal naming the --set that would match (the tensor shapes would say less).
 */
function checkNetworkSize(file: string, metadata: Record<string, string>, spec: RunSpec): void {
  let recorded: Partial<Record<"width" | "layers" | "heads", unknown>> | undefined;
  try {
    recorded = (JSON.parse(metadata[WEIGHTS_METADATA.config] ?? "null") as { training?: typeof recorded } | null)?.training;
  } catch {
    return;
  }
  if (!recorded) return;
  const differing = (["width", "layers", "heads"] as const).filter(
    (key) => recorded[key] !== undefined && recorded[key] !== spec.training[key],
  );
  if (!differing.length) return;
  throw new SelectivError(
    `${file}: its weights are of a network with ${differing.map((k) => `train.${k}=${String(recorded[k])}`).join(", ")} (metadata ${WEIGHTS_METADATA.config}); these settings give ${differing.map((k) => `train.${k}=${spec.training[k]}`).join(", ")}: add --set ${differing.map((k) => `train.${k}=${String(recorded[k])}`).join(" --set ")}`,
  );
}

/**
 * Makes a run folder from a safetensors file of reference-named weights (a `weights export`, or a reference
 * state_dict saved as safetensors): config.json (the run's settings from the flags, as bench run plans them, and
 * `importedFrom`) and checkpoint.bin at step 0, so `selectiv eval` evaluates it and `bench run` with the same
 * settings and --out trains on from it. The network must match the file exactly (reference-weights.ts).
 */
export async function importRunWeights(
  container: DependencyContainer,
  fileArgument: string,
  options: ImportWeightsOptions,
): Promise<WeightsImport> {
  const file = resolve(fileArgument);
  const taskId = options.task ?? "task1";
  const overrides: Overrides = emptyOverrides();
  parseAssignments(container, options.assignments ?? [], { tasks: [taskId], models: [options.model] }, overrides);
  const [planned] = planBenchmark(container, {
    tasks: [taskId],
    models: [options.model],
    seeds: [options.seed ?? 1],
    preset: (options.preset ?? "quick") as PresetName,
    overrides,
    backend: (options.backend ?? "auto") as BackendPreference,
    outDir: options.outDir,
  });
  if (planned!.task.transfer) {
    throw new SelectivError(
      `--task ${taskId}: a transfer task tests the weights of its training task's run; import them with --task ${planned!.task.transfer.trainTask}`,
    );
  }
  const { tensors, metadata } = readSafetensors(file);
  const outDir = resolve(options.outDir);
  const backend = await initBackend((options.backend ?? "auto") as BackendPreference);
  const spec: RunSpec = { ...planned!, backend, outDir };
  const folder = new RunFolder(spec);
  if (existsSync(folder.dir)) {
    throw new SelectivError(`${folder.dir}: a run with these settings exists already; give another --out for the imported weights`);
  }
  const task = spec.task.create(spec.taskConfig, spec.seed);
  checkTaskSize(file, metadata, WEIGHTS_METADATA.inputSize, "inputs", task.inputSize, taskId);
  checkTaskSize(file, metadata, WEIGHTS_METADATA.numClasses, "classes", task.numClasses, taskId);
  checkNetworkSize(file, metadata, spec);
  const net = buildNet(spec, task);
  const optimizer = new Adam();
  try {
    loadReferenceStateDict(net, tensors, file);
    // Nothing is written until the file has proved to be this network's weights.
    ensureWritableDir(outDir);
    folder.writeConfig({ params: net.parameterCount, taskSummary: { ...task.summary }, importedFrom: file });
    const evalEvery = spec.training.evalEvery;
    await folder.saveCheckpoint(net, optimizer, {
      step: 0,
      samples: 0,
      nextEval: evalEvery > 0 ? evalEvery : Number.MAX_SAFE_INTEGER,
      records: [],
      lastLoss: 0,
      gradNorm: 0,
      wallSeconds: 0,
    });
    return { file, runDir: folder.dir, model: spec.model.id, task: spec.task.id, tensors: tensors.size, parameters: net.parameterCount };
  } finally {
    optimizer.dispose();
    net.dispose();
  }
}
