import type { tf } from "../../tf.js";
import { prefersFusedKernels } from "../kernels.js";
import type { RecurrenceResult } from "../tensor-ops.js";
import { type DeltaChunkOptions, deltaRuleChunked } from "./chunked.js";
import { fusedDeltaRule } from "./fused.js";
import type { DeltaRuleInputs } from "./inputs.js";
import { deltaRuleStepwise } from "./naive.js";

export type { DeltaRuleInputs } from "./inputs.js";
export { deltaRuleStep, deltaRuleStepwise } from "./naive.js";
export { type DeltaChunkOptions, deltaRuleChunked, unitLowerInverse } from "./chunked.js";
export { fusedDeltaRule } from "./fused.js";

/** Runs the delta rule in the requested form: the training form is the fused kernel on CPU backends. */
export function deltaRule(
  inputs: DeltaRuleInputs,
  form: "chunked" | "stepwise",
  options: DeltaChunkOptions = {},
  initialState?: tf.Tensor4D,
): RecurrenceResult {
  if (form === "stepwise") return deltaRuleStepwise(inputs, initialState);
  return prefersFusedKernels() ? fusedDeltaRule(inputs, initialState) : deltaRuleChunked(inputs, options, initialState);
}
