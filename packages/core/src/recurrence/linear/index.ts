import type { tf } from "../../tf.js";
import { prefersFusedKernels } from "../kernels.js";
import type { RecurrenceResult } from "../tensor-ops.js";
import { type ChunkOptions, chunkedScan } from "./chunked.js";
import { fusedScan } from "./fused.js";
import type { RecurrenceInputs } from "./inputs.js";
import { stepwiseScan } from "./naive.js";

export type { Decay, RecurrenceInputs } from "./inputs.js";
export { recurrenceStep, stepwiseScan } from "./naive.js";
export { type ChunkOptions, chunkedScan } from "./chunked.js";
export { fusedScan } from "./fused.js";

/**
 * Runs the recurrence in the requested form. The training form is the fused kernel on backends whose tensors
 * live in CPU memory (many small TF ops cost far more there) and the chunked matmul form elsewhere (GPU).
 */
export function linearRecurrence(
  inputs: RecurrenceInputs,
  form: "chunked" | "stepwise",
  options: ChunkOptions = {},
  initialState?: tf.Tensor4D,
): RecurrenceResult {
  if (form === "stepwise") return stepwiseScan(inputs, initialState);
  return prefersFusedKernels() ? fusedScan(inputs, initialState) : chunkedScan(inputs, options, initialState);
}
