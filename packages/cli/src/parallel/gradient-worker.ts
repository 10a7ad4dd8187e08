// A worker thread of `train.workers` > 1: holds its own copy of the run's network on its own TF.js backend and
// computes the passes of each step it is given (core's passGradients), posting one message per pass.
import "reflect-metadata";
import { parentPort, workerData } from "node:worker_threads";
import {
  type Batch,
  type BackendName,
  type Config,
  type ModelRegistry,
  type PassSpec,
  type PluginCandidate,
  type RecNetShape,
  RecNet,
  Tokens,
  batchTensors,
  initBackend,
  passGradients,
  tf,
} from "@selectiv/core";
import { createContainer } from "../container.js";

export interface GradientWorkerData {
  readonly backend: BackendName;
  readonly plugins: readonly PluginCandidate[];
  readonly modelId: string;
  readonly modelConfig: Config;
  readonly shape: RecNetShape;
}

export interface PassesMessage {
  readonly id: number;
  readonly weights: Record<string, Float32Array>;
  readonly batch: Batch;
  readonly wholeBatch: boolean;
  readonly validSteps: number;
  readonly passes: readonly PassSpec[];
}

export type WorkerReply =
  | { readonly kind: "ready" }
  | {
      readonly kind: "pass";
      readonly id: number;
      readonly index: number;
      readonly loss: number;
      readonly grads: Record<string, Float32Array>;
    }
  | { readonly kind: "error"; readonly id: number; readonly message: string };

const data = workerData as GradientWorkerData;
const port = parentPort!;

async function start(): Promise<void> {
  await initBackend(data.backend);
  const container = await createContainer({ candidates: data.plugins, warn: () => {} });
  const definition = container.resolve<ModelRegistry>(Tokens.ModelRegistry).get(data.modelId);
  const net = new RecNet(definition, data.modelConfig, data.shape, 0);
  const variables = new Map(net.store.entries());
  port.on("message", (m: PassesMessage) => {
    try {
      for (const [path, v] of variables) v.assign(tf.tensor(m.weights[path]!, v.shape));
      const full = batchTensors(m.batch);
      const validSteps = tf.scalar(m.validSteps);
      for (const pass of m.passes) {
        const r = passGradients(net, variables, full, pass, m.wholeBatch, validSteps);
        const grads: Record<string, Float32Array> = {};
        for (const [path, g] of Object.entries(r.grads)) grads[path] = g.dataSync() as Float32Array;
        const reply: WorkerReply = { kind: "pass", id: m.id, index: pass.index, loss: r.loss.dataSync()[0]!, grads };
        port.postMessage(
          reply,
          Object.values(grads).map((g) => g.buffer as ArrayBuffer),
        );
        tf.dispose([r.loss, ...Object.values(r.grads)]);
      }
      tf.dispose([full.inputs, full.targets, full.mask, validSteps]);
    } catch (e) {
      const reply: WorkerReply = { kind: "error", id: m.id, message: (e instanceof Error ? e.message : String(e)).split("\n")[0]! };
      port.postMessage(reply);
    }
  });
  port.postMessage({ kind: "ready" } satisfies WorkerReply);
}

start().catch((e: unknown) => {
  port.postMessage({ kind: "error", id: -1, message: (e instanceof Error ? e.message : String(e)).split("\n")[0]! } satisfies WorkerReply);
});
