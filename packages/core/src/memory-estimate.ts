import { totalmem } from "node:os";
import type { BackendName } from "./backend.js";
import { SelectivError } from "./errors.js";
import { activationFloatBudget, activationFloatsPerStep } from "./optimizer-step.js";
import { type RunSpec, headsOf } from "./run-spec.js";
import type { TaskInstance } from "./task.js";

/** Bytes a training run holds at its peak, estimated from shapes alone (docs/spec/MODELS.md §7.1 counts). */
export interface MemoryEstimate {
  readonly parameters: number;
  /** Weights, gradients and Adam's two moments, float32. */
  readonly parameterBytes: number;
  /** One forward/backward pass's activations (train.microBatch samples, or the automatic size). */
  readonly activationBytes: number;
  readonly totalBytes: number;
}

export function estimateRunMemory(
  spec: Pick<RunSpec, "model" | "modelConfig" | "training" | "backend">,
  task: TaskInstance,
): MemoryEstimate {
  const { width, layers, batchSize, microBatch } = spec.training;
  const perLayer = spec.model.parametersPerLayer(width, headsOf(spec.training), spec.modelConfig) + 2 * width; // + LayerNorm
  const parameters = task.inputSize * width + width + layers * perLayer + width * task.numClasses + task.numClasses;
  const steps = task.batch("train", 0, 1).steps;
  const perSample = steps * activationFloatsPerStep(width, layers, task.numClasses, spec.model.activationWidths);
  // As optimizer-step.ts `microBatchSize`: a given size, else equal parts that fit the activation budget.
  const passSamples =
    microBatch > 0
      ? Math.min(microBatch, batchSize)
      : Math.ceil(batchSize / Math.max(1, Math.ceil((batchSize * perSample) / activationFloatBudget(spec.backend.name))));
  const parameterBytes = parameters * 4 * 4;
  const activationBytes = passSamples * perSample * 4;
  return { parameters, parameterBytes, activationBytes, totalBytes: parameterBytes + activationBytes };
}

/** wasm32's heap ends at 4 GiB; cpu and tensorflow keep tensors in the machine's memory; GPU memory is not known here. */
function memoryBudget(backend: BackendName): { bytes: number; what: string } | undefined {
  if (backend === "wasm") return { bytes: 4 * 2 ** 30, what: "the wasm backend's 4 GiB heap" };
  if (backend === "cpu" || backend === "tensorflow") return { bytes: totalmem(), what: `this machine's ${gb(totalmem())} of memory` };
  return undefined;
}

function gb(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/**
 * Refuses, before anything trains, a run whose estimated memory exceeds the backend's budget: one line naming the
 * settings that size it, instead of an out-of-bounds crash minutes later.
 */
export function checkRunFitsMemory(spec: RunSpec, task: TaskInstance): void {
  const budget = memoryBudget(spec.backend.name);
  if (!budget) return;
  const e = estimateRunMemory(spec, task);
  if (e.totalBytes <= budget.bytes) return;
  const t = spec.training;
  throw new SelectivError(
    `train.width=${t.width}, train.layers=${t.layers}: ${spec.model.id} on ${spec.task.id} needs about ${gb(e.totalBytes)} ` +
      `(${(e.parameters / 1e6).toFixed(1)} M parameters × 16 bytes for weights, gradients and Adam state = ${gb(e.parameterBytes)}, ` +
      `plus ${gb(e.activationBytes)} of activations per pass), more than ${budget.what}; lower train.width or train.layers` +
      (e.activationBytes > e.parameterBytes ? " or set train.microBatch smaller" : ""),
  );
}
