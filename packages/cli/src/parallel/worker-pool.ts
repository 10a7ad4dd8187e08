import { Worker } from "node:worker_threads";
import { type GradientHelper, type GradientHelperFactory, type PassGradients, type PluginCandidate, SelectivError } from "@selectiv/core";
import type { GradientWorkerData, PassesMessage, WorkerReply } from "./gradient-worker.js";

/** The worker's script: the built JavaScript beside this module (tests run against the build as well). */
const WORKER_URL = new URL("../../dist/parallel/gradient-worker.js", import.meta.url);

/** One worker thread as a GradientHelper: one message per step out, one reply per pass back. */
class WorkerHelper implements GradientHelper {
  private nextId = 0;
  private readonly waiting = new Map<string, { resolve(r: PassGradients): void; reject(e: Error): void }>();
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: WorkerReply) => {
      if (m.kind === "pass") {
        const key = `${m.id}:${m.index}`;
        this.waiting.get(key)?.resolve({ loss: m.loss, grads: m.grads });
        this.waiting.delete(key);
      } else if (m.kind === "error") this.fail(new SelectivError(`train.workers: a worker thread failed: ${m.message}`));
    });
    worker.on("error", (e) => this.fail(new SelectivError(`train.workers: a worker thread failed: ${e.message.split("\n")[0]}`)));
    worker.on("exit", (code) => {
      if (code !== 0) this.fail(new SelectivError(`train.workers: a worker thread exited with code ${code}`));
    });
  }

  static start(data: GradientWorkerData): Promise<WorkerHelper> {
    const worker = new Worker(WORKER_URL, { workerData: data });
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        worker.off("message", onMessage);
        if (m.kind === "ready") resolve(new WorkerHelper(worker));
        else {
          void worker.terminate();
          reject(new SelectivError(`train.workers: a worker thread could not start: ${m.kind === "error" ? m.message : m.kind}`));
        }
      };
      worker.on("message", onMessage);
      worker.once("error", (e) => reject(new SelectivError(`train.workers: a worker thread could not start: ${e.message.split("\n")[0]}`)));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  passes(request: Omit<PassesMessage, "id">): Promise<PassGradients>[] {
    const id = this.nextId++;
    const promises = request.passes.map(
      (p) =>
        new Promise<PassGradients>((resolve, reject) => {
          if (this.failure) reject(this.failure);
          else this.waiting.set(`${id}:${p.index}`, { resolve, reject });
        }),
    );
    if (!this.failure && request.passes.length > 0) this.worker.postMessage({ id, ...request } satisfies PassesMessage);
    return promises;
  }

  async dispose(): Promise<void> {
    this.fail(new SelectivError("train.workers: the worker thread was stopped"));
    await this.worker.terminate();
  }
}

/** Starts worker threads for a run, each loading the same plugins as this process. */
export function workerThreadHelpers(plugins: readonly PluginCandidate[]): GradientHelperFactory {
  return async (spec, shape, count) => {
    const data: GradientWorkerData = {
      backend: spec.backend.name,
      plugins,
      modelId: spec.model.id,
      modelConfig: spec.modelConfig,
      shape,
    };
    const started = await Promise.allSettled(Array.from({ length: count }, () => WorkerHelper.start(data)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.dispose() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    return started.map((r) => (r as PromiseFulfilledResult<WorkerHelper>).value);
  };
}
