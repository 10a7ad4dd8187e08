import { availableParallelism } from "node:os";
import { type RunResult, SelectivError, oneLine } from "@selectiv/core";
import { formatDuration } from "../format.js";
import { type Claim, HEARTBEAT_MS, type SweepFolder, type SweepManifest, thisHolder } from "./folder.js";
import { RunProcess, type RunProcessOptions } from "./run-process.js";
import type { SweepRun } from "./source.js";

/** A sweep ready to execute: its folder, its manifest, and the runs asked for this time. */
export interface PreparedSweep {
  folder: SweepFolder;
  manifest: SweepManifest;
  runs: SweepRun[];
}

export interface ExecutionSummary {
  executor: "local" | "bullmq";
  /** Runs already done before this execution. */
  alreadyDone: number;
  /** local: runs completed now; bullmq: runs enqueued now. */
  completed: number;
  enqueued: number;
  failed: { runId: string; error: string }[];
  wallSeconds: number;
}

/** Where a sweep's runs are executed. Both executors train through the same worker process (RunProcess). */
export interface SweepExecutor {
  readonly name: ExecutionSummary["executor"];
  execute(sweep: PreparedSweep, log: (line: string) => void): Promise<ExecutionSummary>;
}

export function defaultWorkerCount(): number {
  return availableParallelism();
}

function describeResult(r: RunResult): string {
  return `${r.status}, test accuracy ${r.testAccuracy.toFixed(4)} (majority baseline ${r.majorityBaseline.toFixed(4)}) in ${formatDuration(r.wallSeconds)}`;
}

/**
 * One machine: N training processes (default: one per core), each fed runs one at a time. Every run is claimed
 * in the folder first, so two `sweep run`s on the same folder (this machine or another sharing it) split the
 * work instead of training a run twice; claims of dead processes are taken over.
 */
export class LocalExecutor implements SweepExecutor {
  readonly name = "local" as const;

  constructor(
    private readonly workers: number,
    private readonly processOptions: RunProcessOptions,
  ) {
    if (!Number.isInteger(workers) || workers < 1) throw new SelectivError(`--workers: got ${workers}; expected a positive integer`);
  }

  async execute(sweep: PreparedSweep, log: (line: string) => void): Promise<ExecutionSummary> {
    const started = Date.now();
    const startedIso = new Date(started).toISOString();
    const { folder } = sweep;
    const alreadyDone = sweep.runs.filter((r) => folder.isDone(r.id)).length;
    let queue = sweep.runs.filter((r) => !folder.isDone(r.id));
    const total = sweep.runs.length;
    let doneCount = alreadyDone;
    let completed = 0;
    const failed: ExecutionSummary["failed"] = [];
    const held = new Set<Claim>();
    const processes: RunProcess[] = [];
    const holder = thisHolder("local");

    // Runs claimed by another live process wait in `deferred` until that process finishes or dies.
    let deferred: SweepRun[] = [];
    const takeNext = (): { run: SweepRun; claim: Claim } | "wait" | undefined => {
      while (queue.length) {
        const run = queue.shift()!;
        if (folder.isDone(run.id)) continue;
        const failure = folder.failure(run.id);
        if (failure && failure.at >= startedIso) continue;
        const claim = folder.claim(run.id, holder);
        if (!claim) {
          deferred.push(run);
          continue;
        }
        if (folder.isDone(run.id)) {
          folder.release(claim);
          continue;
        }
        return { run, claim };
      }
      deferred = deferred.filter((r) => !folder.isDone(r.id));
      if (deferred.length === 0) return undefined;
      queue = deferred;
      deferred = [];
      return "wait";
    };

    const heartbeat = setInterval(() => folder.heartbeat(held), HEARTBEAT_MS);
    const stop = () => {
      for (const p of processes) p.kill();
      for (const c of held) folder.release(c);
      process.exit(130);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);

    const loop = async (slot: number): Promise<void> => {
      let proc: RunProcess | undefined;
      for (;;) {
        const next = takeNext();
        if (next === undefined) break;
        if (next === "wait") {
          await new Promise((r) => setTimeout(r, 2000));
          continue;
        }
        const { run, claim } = next;
        held.add(claim);
        try {
          if (!proc?.alive) {
            proc = await RunProcess.start(this.processOptions);
            processes[slot] = proc;
          }
          claim.holder = { ...claim.holder, childPid: proc.pid };
          folder.updateClaim(claim);
          folder.event("started", run.id, claim.holder);
          const result = await proc.run(run, folder.dir);
          const outcome = folder.recordCompletion(claim, result);
          doneCount++;
          if (outcome === "completed") completed++;
          log(
            `[${doneCount}/${total}] ${run.id}: ${describeResult(result)}${outcome === "already-completed" ? " (completed elsewhere first)" : ""}`,
          );
        } catch (e) {
          const error = oneLine(e).replace(/^Error: /, "");
          folder.recordFailure(run.id, claim.holder, error);
          failed.push({ runId: run.id, error });
          log(`${run.id}: failed: ${error}`);
        } finally {
          held.delete(claim);
          folder.release(claim);
        }
      }
      proc?.kill();
    };

    const slots = Math.max(1, Math.min(this.workers, queue.length));
    if (queue.length)
      log(`${queue.length} of ${total} runs to train with ${slots} worker process${slots === 1 ? "" : "es"} (${alreadyDone} done before)`);
    try {
      await Promise.all(Array.from({ length: queue.length ? slots : 0 }, (_, i) => loop(i)));
    } finally {
      clearInterval(heartbeat);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      for (const p of processes) p?.kill();
    }
    return { executor: "local", alreadyDone, completed, enqueued: 0, failed, wallSeconds: (Date.now() - started) / 1000 };
  }
}
