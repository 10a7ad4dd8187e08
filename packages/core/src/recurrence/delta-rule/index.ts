import type { tf } from "../../tf.js";
import { prefersFusedKernels, prefersRegisteredKernels } from "../kernels.js";
import type { RecurrenceResult } from "../tensor-ops.js";
import { type DeltaChunkOptions, deltaRuleChunked } from "./chunked.js";
import { kernelDeltaRule } from "./delta-kernel.js";
import { fusedDeltaRule } from "./fused.js";
import type { DeltaRuleInputs } from "./inputs.js";
import { deltaRuleStepwise } from "./naive.js";

export type { DeltaRuleInputs } from "./inputs.js";
export { deltaRuleStep, deltaRuleStepwise } from "./naive.js";
export { type DeltaChunkOptions, deltaRuleChunked, unitLowerInverse } from "./chunked.js";
export { fusedDeltaRule } from "./fused.js";
export { DELTA_RULE, DELTA_RULE_GRAD, kernelDeltaRule, registerDeltaRuleKernels } from "./delta-kernel.js";

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
