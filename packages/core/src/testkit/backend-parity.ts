// Training on another backend gives the CPU's losses: the check behind `pnpm bench parity`, small enough for a test.
import { type BackendName, initBackend } from "../backend.js";
import type { Config } from "../config.js";
import type { ModelDefinition } from "../model.js";
import { Adam } from "../optim.js";
import { RecNet } from "../recnet.js";
import type { Batch } from "../task.js";
import { trainingStep } from "../optimizer-step.js";
import { ContractViolation, SMALL_LAYER, type LayerSize } from "./checks.js";

/** A padded batch of `size` samples with `steps` steps; sample i has steps − (i mod 3) real steps. */
export function syntheticBatch(size: number, steps: number, inputSize: number, classes: number): Batch {
  const inputs = new Float32Array(size * steps * inputSize);
  const targets = new Int32Array(size * steps);
  const mask = new Float32Array(size * steps);
  for (let b = 0; b < size; b++) {
    for (let t = 0; t < steps - (b % 3); t++) {
      inputs[(b * steps + t) * inputSize + ((b + t) % inputSize)] = 1;
      targets[b * steps + t] = (b * 7 + t * 3) % classes;
      mask[b * steps + t] = 1;
    }
  }
  return {
    size,
    steps,
    inputSize,
    maxSymbols: steps,
    inputs,
    targets,
    mask,
    windows: new Int32Array(size * steps).fill(-1),
    symbolTargets: new Int32Array(size * steps).fill(-1),
  };
}

export interface BackendParityCase {
  readonly config: Config;
  /** The backend compared with cpu. */
  readonly backend: BackendName;
  readonly size?: LayerSize;
  /** Adam steps (default 3). */
  readonly steps?: number;
  /** Largest relative loss difference allowed at any step (default 1e-4). */
  readonly tolerance?: number;
}

export interface BackendParity {
  readonly cpu: readonly number[];
  readonly other: readonly number[];
  /** Largest relative difference over the steps. */
  readonly worst: number;
}

/** Losses of `steps` training steps of a two-layer RecNet of the model on the current backend (same seed, same data). */
async function trainingLosses(definition: ModelDefinition, c: BackendParityCase): Promise<number[]> {
  const size = c.size ?? SMALL_LAYER;
  const net = new RecNet(
    definition,
    c.config,
    { inputSize: 5, numClasses: 7, width: size.dModel, layers: 2, heads: size.heads, dropout: 0.1 },
    3,
  );
  const adam = new Adam();
  const variables = new Map(net.store.entries());
  const batch = syntheticBatch(4, 13, 5, 7);
  const losses: number[] = [];
  try {
    for (let step = 0; step < (c.steps ?? 3); step++) {
      losses.push((await trainingStep(net, adam, variables, batch, { seed: 1, step, lr: 1e-2, clipNorm: 1, microBatch: 0 })).loss);
    }
  } finally {
    adam.dispose();
    net.dispose();
  }
  return losses;
}

/**
 * Same seed, same batch, same losses on cpu and `c.backend` (dropout on, Adam, clipping: the whole trainingStep).
 * Switches the process's backend and leaves it on cpu. Throws a ContractViolation past the tolerance.
 */
export async function checkBackendParity(definition: ModelDefinition, c: BackendParityCase): Promise<BackendParity> {
  await initBackend("cpu");
  const cpu = await trainingLosses(definition, c);
  let other: number[];
  try {
    await initBackend(c.backend);
    other = await trainingLosses(definition, c);
  } finally {
    await initBackend("cpu");
  }
  const worst = Math.max(...cpu.map((l, i) => Math.abs(other[i]! - l) / Math.abs(l)));
  const tolerance = c.tolerance ?? 1e-4;
  if (!(worst <= tolerance)) {
    throw new ContractViolation(
      definition.id,
      `training on ${c.backend} gives losses [${other.map((l) => l.toFixed(6)).join(", ")}], on cpu [${cpu.map((l) => l.toFixed(6)).join(", ")}] (relative difference ${worst.toExponential(2)} > ${tolerance})`,
    );
  }
  return { cpu, other, worst };
}
