// The training process of a sweep worker (forked by RunProcess). It trains one run at a time, synchronously,
// so the worker that forked it keeps a free event loop for claim heartbeats and BullMQ lock renewal.
import "reflect-metadata";
import {
  type PluginCandidate,
  type RunResult,
  emptyOverrides,
  oneLine,
  parseAssignments,
  planBenchmark,
  runBenchmark,
  runId,
} from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { createContainer } from "../container.js";
import type { SweepRun } from "./source.js";

export type ToChild = { type: "init"; plugins: PluginCandidate[] } | { type: "run"; run: SweepRun; outDir: string };

export type FromChild =
  { type: "ready" } | { type: "result"; runId: string; result: RunResult } | { type: "error"; runId: string; message: string };

const parentPid = process.ppid;
let container: DependencyContainer | undefined;

function send(message: FromChild): void {
  process.send?.(message);
}

/** A worker killed with SIGKILL cannot stop its child; the child notices its new parent and stops itself. */
function exitIfOrphaned(): void {
  if (process.ppid !== parentPid) process.exit(1);
}

async function train(run: SweepRun, outDir: string): Promise<RunResult> {
  const selected = { tasks: [run.task], models: [run.model] };
  const request = {
    tasks: [run.task],
    models: [run.model],
    seeds: [run.seed],
    preset: run.preset,
    overrides: parseAssignments(container!, run.assignments, selected, emptyOverrides()),
    backend: run.backend,
    outDir,
    resume: true,
    // The sweep writes its folder's results index itself (once per batch of runs, not once per run).
    writeIndex: false,
  };
  const planned = planBenchmark(container!, request);
  const id = planned.length === 1 ? runId(planned[0]!) : "";
  if (id !== run.id) {
    throw new Error(
      `this worker plans run ${run.id} as ${id || `${planned.length} runs`}: its selectiv (or plugins) differ from those that planned the sweep`,
    );
  }
  const report = await runBenchmark(container!, request, { onProgress: exitIfOrphaned, onEvaluation: exitIfOrphaned });
  return report.runs[0]!;
}

process.on("disconnect", () => process.exit(0));
process.on("message", (message: ToChild) => {
  if (message.type === "init") {
    createContainer({ candidates: message.plugins, warn: (line) => process.stderr.write(`warning: ${line}\n`) }).then(
      (c) => {
        container = c;
        send({ type: "ready" });
      },
      (e) => {
        process.stderr.write(`selectiv: ${oneLine(e)}\n`);
        process.exit(2);
      },
    );
    return;
  }
  train(message.run, message.outDir).then(
    (result) => send({ type: "result", runId: message.run.id, result }),
    (e) => send({ type: "error", runId: message.run.id, message: oneLine(e) }),
  );
});
