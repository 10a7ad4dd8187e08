import { tf } from "../../tf.js";
import { prefersFusedKernels, prefersRegisteredKernels } from "../kernels.js";
import type { RecurrenceResult } from "../tensor-ops.js";
import { type ChunkOptions, chunkedScan } from "./chunked.js";
import { fusedScan } from "./fused.js";
import type { RecurrenceInputs } from "./inputs.js";
import { kernelScan, kernelScanOutput } from "./scan-kernel.js";
import { stepwiseScan } from "./naive.js";

export type { Decay, RecurrenceInputs } from "./inputs.js";
export { recurrenceStep, stepwiseScan } from "./naive.js";
export { type ChunkOptions, chunkedScan } from "./chunked.js";
export { fusedScan } from "./fused.js";
export {
  DECAYED_LINEAR_SCAN,
  DECAYED_LINEAR_SCAN_GRAD,
  kernelScan,
  kernelScanOutput,
  registerDecayedLinearScanKernels,
} from "./scan-kernel.js";

/**
 * Runs the recurrence in the requested form. The training form is the fused kernel on backends whose tensors
 * live in CPU memory (many small TF ops cost far more there), the registered WGSL kernels on webgpu
 * (./scan-kernel.ts), and the chunked matmul form where SELECTIV_KERNELS=ops asks for TF ops.
 */
export function linearRecurrence(
  inputs: RecurrenceInputs,
  form: "chunked" | "stepwise",
  options: ChunkOptions = {},
  initialState?: tf.Tensor4D,
): RecurrenceResult {
  if (form === "stepwise") return stepwiseScan(inputs, initialState);
  if (prefersFusedKernels()) return fusedScan(inputs, initialState);
  if (prefersRegisteredKernels()) return kernelScan(inputs, initialState);
  return chunkedScan(inputs, options, initialState);
}

/**
 * The readouts of the recurrence from S_0 = 0, without the final state (what a layer's forward pass needs). On webgpu
 * the registered kernels then skip the state entirely (./scan-kernel.ts); the other forms are linearRecurrence's.
 */
export function linearRecurrenceOutput(inputs: RecurrenceInputs, form: "chunked" | "stepwise", options: ChunkOptions = {}): tf.Tensor4D {
  if (form === "chunked" && !prefersFusedKernels() && prefersRegisteredKernels()) return kernelScanOutput(inputs);
  return linearRecurrence(inputs, form, options).output;
}

/**
 * linearRecurrenceOutput with time before heads: query, key, value and a diagonal log α [B, T, H, ·], a scalar log α
 * [B, T, H]; readouts [B, T, H, d_v]. A layer's projections reshaped into heads are in this layout, so on webgpu the
 * registered kernels read and write it with no transposes around the scan (five dispatches a layer fewer, forward
 * and backward); the other forms get the lane-major inputs they take and transpose their readouts back.
 */
export function linearRecurrenceOutputByTime(
  inputs: RecurrenceInputs,
  form: "chunked" | "stepwise",
  options: ChunkOptions = {},
): tf.Tensor4D {
  if (form === "chunked" && !prefersFusedKernels() && prefersRegisteredKernels()) return kernelScanOutput(inputs, true);
  const laneMajor = swapTimeAndHeads(inputs);
  return tf.transpose(linearRecurrenceOutput(laneMajor, form, options), [0, 2, 1, 3]);
}

/** Recurrence inputs with their time and head axes swapped: [B, H, T, ·] ↔ [B, T, H, ·] (a scalar decay [B, ·, ·]). */
export function swapTimeAndHeads(inputs: RecurrenceInputs): RecurrenceInputs {
  const swap = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
  const { decay } = inputs;
  return {
    query: swap(inputs.query),
    key: swap(inputs.key),
    value: swap(inputs.value),
    decay:
      decay.kind === "diagonal"
        ? { kind: "diagonal", logAlpha: swap(decay.logAlpha) }
        : decay.kind === "scalar"
          ? { kind: "scalar", logAlpha: tf.transpose(decay.logAlpha, [0, 2, 1]) }
          : decay,
  };
}
