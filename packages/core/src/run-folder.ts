import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Checkpoint, readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { SelectivError } from "./errors.js";
import { writeFileAtomic, writeJsonAtomic } from "./files.js";
import type { Adam } from "./optim.js";
import type { RecNet } from "./recnet.js";
import type { EvaluationRecord, RunResult } from "./results.js";
import { type RunSpec, buildNet, headsOf, runId, runSettings } from "./run-spec.js";
import type { TaskInstance } from "./task.js";
import { tf } from "./tf.js";

/** What a checkpoint stores besides the arrays. Randomness is a function of (seed, step), so no RNG state. */
export interface CheckpointMeta {
  settings: string;
  /** The backend that trained it: a run continues only on the backend it started on. */
  backend: string;
  step: number;
  samples: number;
  nextEval: number;
  records: EvaluationRecord[];
  lastLoss: number;
  gradNorm: number;
  adamStep: number;
  wallSeconds: number;
}

/** config.json: one shape for every run; a transfer run (Task 4) names the run that trained its model. */
export interface RunConfigFile {
  task: string;
  model: string;
  seed: number;
  preset: string;
  taskConfig: RunSpec["taskConfig"];
  modelConfig: RunSpec["modelConfig"];
  training: RunSpec["training"];
  heads: number;
  backend: string;
  backendReason: string;
  /** The canonical settings (run-spec.ts `runSettings`); a finished run is reused only when they are equal. */
  settings: string;
  params?: number;
  taskSummary?: Record<string, number | string>;
  trainedIn?: string;
  /**
   * The safetensors file its weights came from (`selectiv weights import`, docs/WEIGHTS.md): such a run was not
   * trained here, has a checkpoint at step 0 and no result.json until it is evaluated or trained.
   */
  importedFrom?: string;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Sets every parameter of `net` that `params` holds. */
function restoreParams(net: RecNet, params: Map<string, Float32Array>): void {
  for (const [name, v] of net.store.entries()) {
    const values = params.get(name);
    if (values) v.assign(tf.tensor(values, v.shape));
  }
}

/**
 * A run's folder `<outDir>/<runId>/`: config.json, metrics.jsonl, checkpoint.bin and result.json, each written
 * atomically. Checkpoints are keyed by parameter path (TF.js variable names carry a process-local serial).
 */
export class RunFolder {
  readonly dir: string;
  readonly settings: string;

  constructor(private readonly spec: RunSpec) {
    this.dir = join(spec.outDir, runId(spec));
    this.settings = runSettings(spec);
  }

  path(name: "config.json" | "metrics.jsonl" | "checkpoint.bin" | "result.json"): string {
    return join(this.dir, name);
  }

  writeConfig(extra: Pick<RunConfigFile, "params" | "taskSummary" | "trainedIn" | "importedFrom">): void {
    const s = this.spec;
    const config: RunConfigFile = {
      task: s.task.id,
      model: s.model.id,
      seed: s.seed,
      preset: s.preset,
      taskConfig: s.taskConfig,
      modelConfig: s.modelConfig,
      training: s.training,
      heads: headsOf(s.training),
      backend: s.backend.name,
      backendReason: s.backend.reason,
      ...extra,
      settings: this.settings,
    };
    writeJsonAtomic(this.path("config.json"), config);
  }

  /**
   * The result of a finished run with these settings, if there is one. A run folder is one run on one backend:
   * a result from another backend is a one-line refusal (relabelling it, or overwriting it, would lose a result).
   */
  finishedResult(): RunResult | undefined {
    if (!existsSync(this.path("result.json")) || !existsSync(this.path("config.json"))) return undefined;
    const previous = readJson<RunResult>(this.path("result.json"));
    const config = readJson<Partial<RunConfigFile>>(this.path("config.json"));
    if (!previous || typeof previous !== "object" || config?.settings !== this.settings) return undefined;
    this.checkBackend(previous.backend, this.path("result.json"));
    return previous;
  }

  private checkBackend(found: string, file: string): void {
    const here = this.spec.backend.name;
    if (found === here) return;
    throw new SelectivError(
      `${file}: this run was trained on the ${found} backend and this command runs on ${here}; use another --out for ${here} results, --backend ${found} to reuse it, or --fresh to replace it`,
    );
  }

  writeMetrics(records: readonly EvaluationRecord[]): void {
    writeFileAtomic(this.path("metrics.jsonl"), records.map((x) => JSON.stringify(x)).join("\n") + "\n");
  }

  writeResult(result: RunResult): void {
    writeJsonAtomic(this.path("result.json"), result);
  }

  async saveCheckpoint(net: RecNet, optimizer: Adam, meta: Omit<CheckpointMeta, "settings" | "backend" | "adamStep">): Promise<void> {
    const adam = await optimizer.getState();
    const params = new Map(
      await Promise.all(net.store.entries().map(async ([name, v]) => [name, (await v.data()) as Float32Array] as const)),
    );
    writeCheckpoint<CheckpointMeta>(this.path("checkpoint.bin"), {
      meta: { settings: this.settings, backend: this.spec.backend.name, ...meta, adamStep: adam.step },
      arrays: { params, m: adam.m, v: adam.v },
    });
  }

  /**
   * The run's checkpoint, if any. One written for other settings or on another backend, like a damaged one
   * (checkpoint.ts), is a one-line refusal: it never loads.
   */
  readCheckpoint(): Checkpoint<CheckpointMeta> | undefined {
    const path = this.path("checkpoint.bin");
    const saved = readCheckpoint<CheckpointMeta>(path);
    if (!saved) return undefined;
    if (saved.meta.settings !== this.settings) {
      throw new SelectivError(
        `checkpoint ${path}: written for other settings than this run's; it was not loaded (use --fresh to train this run from scratch)`,
      );
    }
    this.checkBackend(saved.meta.backend, path);
    return saved;
  }

  /** Restores the weights (and, given an optimizer, the Adam state) of a checkpoint into `net`. */
  restore(saved: Checkpoint<CheckpointMeta>, net: RecNet, optimizer?: Adam): void {
    restoreParams(net, saved.arrays.params);
    if (!optimizer) return;
    const shapes = new Map(net.store.entries().map(([name, v]) => [name, v.shape]));
    optimizer.setState({ step: saved.meta.adamStep, m: saved.arrays.m, v: saved.arrays.v }, shapes);
  }
}

/** The network of a finished run, with its final weights (from the run's checkpoint). */
export function loadTrainedNet(spec: RunSpec, task: TaskInstance): RecNet {
  const folder = new RunFolder(spec);
  const checkpoint = folder.readCheckpoint();
  if (!checkpoint) throw new SelectivError(`run ${runId(spec)} has no checkpoint to evaluate`);
  const net = buildNet(spec, task);
  folder.restore(checkpoint, net);
  return net;
}
