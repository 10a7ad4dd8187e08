import { tf } from "../../tf.js";
import { prefersFusedKernels, prefersRegisteredKernels } from "../kernels.js";
import type { RecurrenceResult } from "../tensor-ops.js";
import { type DeltaChunkOptions, deltaRuleChunked } from "./chunked.js";
import { kernelDeltaRule, kernelDeltaRuleOutputByTime } from "./delta-kernel.js";
import { fusedDeltaRule } from "./fused.js";
import type { DeltaRuleInputs } from "./inputs.js";
import { deltaRuleStepwise } from "./naive.js";

export type { DeltaRuleInputs } from "./inputs.js";
export { deltaRuleStep, deltaRuleStepwise } from "./naive.js";
export { type DeltaChunkOptions, deltaRuleChunked, unitLowerInverse } from "./chunked.js";
export { fusedDeltaRule } from "./fused.js";
export { DELTA_RULE, DELTA_RULE_GRAD, kernelDeltaRule, kernelDeltaRuleOutputByTime, registerDeltaRuleKernels } from "./delta-kernel.js";

/**
 * Runs the delta rule in the requested form. The training form is the fused kernel on backends whose tensors live
 * in CPU memory, the registered WGSL kernels on webgpu (./delta-kernel.ts), and the chunked WY/UT form where
 * SELECTIV_KERNELS=ops asks for TF ops.
 */
export function deltaRule(
  inputs: DeltaRuleInputs,
  form: "chunked" | "stepwise",
  options: DeltaChunkOptions = {},
  initialState?: tf.Tensor4D,
): RecurrenceResult {
  if (form === "stepwise") return deltaRuleStepwise(inputs, initialState);
  if (prefersFusedKernels()) return fusedDeltaRule(inputs, initialState);
  if (prefersRegisteredKernels()) return kernelDeltaRule(inputs, initialState);
  return deltaRuleChunked(inputs, options, initialState);
}

/**
 * The readouts from S_0 = 0 with time before heads: query, key [B, T, H, d_k], value [B, T, H, d_v], β and log α
 * [B, T, H]; readouts [B, T, H, d_v]. A layer's projections reshaped into heads are in this layout, so on webgpu the
 * registered kernels read and write it with no transposes around the rule; the other forms get the lane-major inputs
 * they take and transpose their readouts back.
 */
export function deltaRuleOutputByTime(inputs: DeltaRuleInputs, form: "chunked" | "stepwise", options: DeltaChunkOptions = {}): tf.Tensor4D {
  if (form === "chunked" && !prefersFusedKernels() && prefersRegisteredKernels()) return kernelDeltaRuleOutputByTime(inputs);
  const swap = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
  const timeLast = (x: tf.Tensor3D) => tf.transpose(x, [0, 2, 1]);
  const laneMajor: DeltaRuleInputs = {
    query: swap(inputs.query),
    key: swap(inputs.key),
    value: swap(inputs.value),
    beta: timeLast(inputs.beta),
    logAlpha: inputs.logAlpha && timeLast(inputs.logAlpha),
  };
  return swap(deltaRule(laneMajor, form, options).output);
}
