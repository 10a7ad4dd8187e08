import type { DependencyContainer } from "tsyringe";
import { type BackendChoice, initBackend } from "./backend.js";
import { evaluateTransfer, transferTrainingSpec } from "./evaluation.js";
import { ensureWritableDir, removeStaleTempFiles } from "./files.js";
import { checkRunFitsMemory } from "./memory-estimate.js";
import { type BenchmarkRequest, type PlannedRun, planBenchmark } from "./plan.js";
import type { TaskRegistry } from "./registry.js";
import { type RunResult, writeResultsIndex } from "./results.js";
import type { RunSpec } from "./run-spec.js";
import { Tokens } from "./tokens.js";
import { type GradientHelperFactory, type RunHooks, trainAndEvaluate } from "./training-loop.js";

export interface BenchmarkReport {
  backend: BackendChoice;
  runs: RunResult[];
}

export interface BenchmarkHooks extends RunHooks {
  onRunStart?(run: PlannedRun, index: number, count: number): void;
  onRunEnd?(result: RunResult, index: number, count: number): void;
}

/** One run: trained here, or for a transfer task (Task 4) trained (or reused) on its training task, then tested. */
async function runOne(container: DependencyContainer, spec: RunSpec, hooks: RunHooks): Promise<RunResult> {
  const transfer = spec.task.transfer;
  if (!transfer) return trainAndEvaluate(spec, hooks);
  const trainTask = container.resolve<TaskRegistry>(Tokens.TaskRegistry).get(transfer.trainTask);
  const trained = await trainAndEvaluate(transferTrainingSpec(spec, trainTask), hooks);
  return evaluateTransfer(spec, trainTask, trained);
}

/**
 * Plans, picks the backend, then trains and evaluates every run in turn. After each run the results index
 * (`results.{csv,jsonl}` in the out folder) is rewritten, unless `request.writeIndex` is false.
 */
export async function runBenchmark(
  container: DependencyContainer,
  request: BenchmarkRequest,
  hooks: BenchmarkHooks = {},
): Promise<BenchmarkReport> {
  const plan = planBenchmark(container, request);
  ensureWritableDir(request.outDir);
  const backend = await initBackend(request.backend);
  removeStaleTempFiles(request.outDir);
  // Every run's memory is checked before the first one trains: a run that cannot fit fails in seconds, losing nothing.
  for (const p of plan) checkRunFitsMemory({ ...p, backend, outDir: request.outDir }, p.task.create(p.taskConfig, p.seed));
  const runs: RunResult[] = [];
  if (!hooks.gradientHelpers && container.isRegistered(Tokens.GradientHelperFactory, true)) {
    hooks = { ...hooks, gradientHelpers: container.resolve<GradientHelperFactory>(Tokens.GradientHelperFactory) };
  }
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i]!;
    hooks.onRunStart?.(p, i, plan.length);
    const result = await runOne(container, { ...p, backend, outDir: request.outDir, resume: request.resume ?? true }, hooks);
    runs.push(result);
    if (request.writeIndex ?? true) writeResultsIndex(request.outDir);
    hooks.onRunEnd?.(result, i, plan.length);
  }
  return { backend, runs };
}
