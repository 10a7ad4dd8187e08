import { hostname } from "node:os";
import { resolve } from "node:path";
import { type RunResult, SelectivError, oneLine } from "@selectiv/core";
import { type Job, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { writeResultsIndex } from "@selectiv/core";
import type { ExecutionSummary, PreparedSweep, SweepExecutor } from "./executor.js";
import { HEARTBEAT_MS, SweepFolder, thisHolder } from "./folder.js";
import { RunProcess, type RunProcessOptions } from "./run-process.js";
import type { SweepRun } from "./source.js";

export const DEFAULT_QUEUE = "selectiv-sweeps";

/** What a job carries: the run, and the sweep folder its results go to. */
export interface SweepJobData {
  sweepId: string;
  outDir: string;
  run: SweepRun;
}

export interface SweepJobResult {
  runId: string;
  outcome: "completed" | "already-completed";
  testAccuracy: number | null;
}

/** One job per run and sweep folder; adding a job id that exists is a no-op, so enqueueing twice is idempotent. */
export function jobIdOf(sweepId: string, runId: string): string {
  return `${sweepId}.${runId}`;
}

/** A one-line error unless `url` is a Redis URL. */
export function checkRedisUrl(url: string): void {
  if (!/^rediss?:\/\/[^/\s]+/.test(url))
    throw new SelectivError(`--redis: got ${JSON.stringify(url)}; expected a URL like redis://HOST:PORT`);
}

/** Connects to Redis, or a one-line error naming --redis and the cause. BullMQ needs maxRetriesPerRequest null. */
export async function connectRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, connectTimeout: 5000, retryStrategy: () => 500 });
  let lastError: Error | undefined;
  redis.on("error", (e: Error) => (lastError = e));
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    throw new SelectivError(`--redis: cannot reach ${url} (${oneLine(lastError ?? e).replace(/^Error: /, "")})`);
  }
  return redis;
}

/**
 * Many machines: `execute` enqueues one BullMQ job per run that is not done (a failed job, or a completed job
 * whose run the folder does not hold, is queued again); `selectiv sweep worker` processes them anywhere. With
 * `wait`, it then waits until every run is done or failed and writes the results index.
 */
export class BullmqExecutor implements SweepExecutor {
  readonly name = "bullmq" as const;

  constructor(
    private readonly redisUrl: string,
    private readonly queueName: string,
    private readonly wait: boolean,
  ) {}

  async execute(sweep: PreparedSweep, log: (line: string) => void): Promise<ExecutionSummary> {
    const started = Date.now();
    const { folder, manifest } = sweep;
    const connection = await connectRedis(this.redisUrl);
    const queue = new Queue<SweepJobData, SweepJobResult>(this.queueName, { connection });
    try {
      const pending = sweep.runs.filter((r) => !folder.isDone(r.id));
      const alreadyDone = sweep.runs.length - pending.length;
      const toAdd: SweepRun[] = [];
      for (let i = 0; i < pending.length; i += 500) {
        const chunk = pending.slice(i, i + 500);
        const states = await Promise.all(chunk.map((r) => queue.getJobState(jobIdOf(manifest.id, r.id))));
        await Promise.all(
          chunk.map(async (run, k) => {
            const state = states[k]!;
            if (state === "unknown") toAdd.push(run);
            else if (state === "failed" || state === "completed") {
              // The folder does not hold this run: queue it again.
              await queue.remove(jobIdOf(manifest.id, run.id));
              toAdd.push(run);
            }
          }),
        );
      }
      for (let i = 0; i < toAdd.length; i += 500) {
        await queue.addBulk(
          toAdd.slice(i, i + 500).map((run) => ({
            name: run.id,
            data: { sweepId: manifest.id, outDir: resolve(folder.dir), run },
            opts: { jobId: jobIdOf(manifest.id, run.id) },
          })),
        );
      }
      log(
        `${toAdd.length} runs enqueued on ${this.queueName} at ${this.redisUrl}, ${pending.length - toAdd.length} already queued, ${alreadyDone} done; ` +
          `work them with: selectiv sweep worker --redis ${this.redisUrl}${this.queueName === DEFAULT_QUEUE ? "" : ` --queue ${this.queueName}`}`,
      );
      const failed: ExecutionSummary["failed"] = [];
      if (this.wait) {
        let remaining = pending;
        let lastDone = -1;
        while (remaining.length) {
          await new Promise((r) => setTimeout(r, 1000));
          remaining = remaining.filter((r) => !folder.isDone(r.id));
          const states = await Promise.all(remaining.map((r) => queue.getJobState(jobIdOf(manifest.id, r.id))));
          for (let k = remaining.length - 1; k >= 0; k--) {
            if (states[k] !== "failed") continue;
            const job = await queue.getJob(jobIdOf(manifest.id, remaining[k]!.id));
            failed.push({ runId: remaining[k]!.id, error: job?.failedReason ?? "failed" });
            remaining.splice(k, 1);
          }
          const doneNow = sweep.runs.length - remaining.length - failed.length;
          if (doneNow !== lastDone) log(`${doneNow}/${sweep.runs.length} done, ${failed.length} failed`);
          lastDone = doneNow;
        }
        writeResultsIndex(folder.dir);
      }
      return { executor: "bullmq", alreadyDone, completed: 0, enqueued: toAdd.length, failed, wallSeconds: (Date.now() - started) / 1000 };
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }
}

export interface QueueWorkerOptions {
  redisUrl: string;
  queueName: string;
  /** Write results here instead of the folder named in each job (another machine's mount point of it). */
  outDir?: string;
  /** Exit once the queue holds no waiting, active or delayed job. */
  untilEmpty: boolean;
  /** BullMQ job lock (ms); a job whose worker died is taken over after about this long (stalled check interval = lock). */
  lockMs: number;
  process: RunProcessOptions;
  log: (line: string) => void;
}

/**
 * Works a sweep queue: one job at a time (concurrency 1), each trained in a RunProcess so the event loop stays
 * free to renew the job lock. A job whose worker died (SIGKILL, lost machine) stalls when its lock expires and
 * another worker takes it over; the trainer continues from the run's checkpoint, and the exclusive completion
 * record makes the run complete exactly once.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<{ processed: number; failed: number }> {
  const connection = await connectRedis(options.redisUrl);
  const queue = new Queue<SweepJobData, SweepJobResult>(options.queueName, { connection });
  let proc: RunProcess | undefined;
  let busy = false;
  let processed = 0;
  let failedJobs = 0;
  const folders = new Set<string>();
  const name = `${hostname()}:${process.pid}`;

  const processJob = async (job: Job<SweepJobData, SweepJobResult>): Promise<SweepJobResult> => {
    busy = true;
    const { run, sweepId } = job.data;
    const folder = new SweepFolder(options.outDir ? resolve(options.outDir) : job.data.outDir);
    try {
      // The folder must be the sweep's (shared) folder: its manifest names the sweep.
      const manifest = folder.readManifest();
      if (manifest?.id !== sweepId) {
        throw new SelectivError(
          `${folder.dir} ${manifest ? `holds sweep ${manifest.id}, not ${sweepId}` : "holds no sweep.json"}; give this machine's path of the sweep folder with --out`,
        );
      }
      folder.ensure("--out");
      folders.add(folder.dir);
      if (folder.isDone(run.id)) {
        folder.event("already-completed", run.id, thisHolder("bullmq"));
        return { runId: run.id, outcome: "already-completed", testAccuracy: folder.completion(run.id)?.testAccuracy ?? null };
      }
      const claim = folder.claim(run.id, thisHolder("bullmq"), true)!;
      const heartbeat = setInterval(() => folder.heartbeat([claim]), HEARTBEAT_MS);
      try {
        if (!proc?.alive) proc = await RunProcess.start(options.process);
        claim.holder = { ...claim.holder, childPid: proc.pid };
        folder.updateClaim(claim);
        folder.event("started", run.id, claim.holder, { jobId: job.id });
        let result: RunResult;
        try {
          result = await proc.run(run, folder.dir);
        } catch (e) {
          folder.recordFailure(run.id, claim.holder, oneLine(e).replace(/^Error: /, ""));
          throw e;
        }
        const outcome = folder.recordCompletion(claim, result);
        options.log(`${run.id}: ${outcome}, test accuracy ${result.testAccuracy.toFixed(4)} (${folder.dir})`);
        return { runId: run.id, outcome, testAccuracy: Number.isFinite(result.testAccuracy) ? result.testAccuracy : null };
      } finally {
        clearInterval(heartbeat);
        folder.release(claim);
      }
    } finally {
      busy = false;
    }
  };

  const worker = new Worker<SweepJobData, SweepJobResult>(options.queueName, processJob, {
    connection,
    name,
    concurrency: 1,
    lockDuration: options.lockMs,
    stalledInterval: options.lockMs,
    maxStalledCount: 2,
    drainDelay: 1,
  });
  worker.on("completed", () => processed++);
  worker.on("failed", (job, err) => {
    failedJobs++;
    options.log(`${job?.data.run.id ?? job?.id}: failed: ${oneLine(err).replace(/^Error: /, "")}`);
  });
  worker.on("error", (err) => options.log(`worker error: ${oneLine(err)}`));
  options.log(`worker ${name} on queue ${options.queueName} at ${options.redisUrl}`);

  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const stop = () => {
    proc?.kill();
    void worker.close(true).finally(finish);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let idleChecks = 0;
  const idleTimer = options.untilEmpty
    ? setInterval(() => {
        void queue.getJobCounts("waiting", "active", "delayed", "prioritized", "waiting-children").then((counts) => {
          const open = Object.values(counts).reduce((a, b) => a + b, 0);
          idleChecks = open === 0 && !busy ? idleChecks + 1 : 0;
          if (idleChecks >= 2) {
            clearInterval(idleTimer);
            void worker.close().finally(finish);
          }
        });
      }, 1000)
    : undefined;
  await finished;
  if (idleTimer) clearInterval(idleTimer);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  proc?.kill();
  for (const dir of folders) writeResultsIndex(dir);
  await queue.close();
  connection.disconnect();
  return { processed, failed: failedJobs };
}
