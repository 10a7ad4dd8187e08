import type { Batch } from "./task.js";
import { tf } from "./tf.js";

/** Tensors of a batch that the loss and the metric need. */
export interface BatchTensors {
  readonly inputs: tf.Tensor3D;
  readonly targets: tf.Tensor2D;
  readonly mask: tf.Tensor2D;
}

export function batchTensors(batch: Batch): BatchTensors {
  const { size: b, steps: t, inputSize: f } = batch;
  return {
    inputs: tf.tensor3d(batch.inputs, [b, t, f]),
    targets: tf.tensor2d(batch.targets, [b, t], "int32"),
    mask: tf.tensor2d(batch.mask, [b, t]),
  };
}
