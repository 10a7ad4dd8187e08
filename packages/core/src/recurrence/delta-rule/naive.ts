import { tf } from "../../tf.js";
import { type RecurrenceResult, zeroState } from "../tensor-ops.js";
import type { DeltaRuleInputs } from "./inputs.js";

/** One step. q, k: [B, H, d_k]; v: [B, H, d_v]; beta, logAlpha: [B, H]. */
export function deltaRuleStep(
  state: tf.Tensor4D,
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  beta: tf.Tensor2D,
  logAlpha?: tf.Tensor2D,
): { state: tf.Tensor4D; output: tf.Tensor3D } {
  const [b, h, dk] = k.shape;
  const dv = v.shape[2];
  const decayed = logAlpha ? (tf.mul(state, tf.reshape(tf.exp(logAlpha), [b, h, 1, 1])) as tf.Tensor4D) : state;
  const kCol = tf.reshape(k, [b, h, dk, 1]);
  const predicted = tf.reshape(tf.matMul(kCol, decayed, true, false), [b, h, dv]); // Sᵀk
  const error = tf.mul(tf.sub(v, predicted), tf.reshape(beta, [b, h, 1]));
  const next = tf.add(decayed, tf.mul(kCol, tf.reshape(error, [b, h, 1, dv]))) as tf.Tensor4D;
  const output = tf.reshape(tf.matMul(tf.reshape(q, [b, h, 1, dk]), next), [b, h, dv]) as tf.Tensor3D;
  return { state: next, output };
}

/** The plain step-by-step delta rule: the oracle for the chunked form. */
export function deltaRuleStepwise(inputs: DeltaRuleInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, beta, logAlpha } = inputs;
  const [b, h, t, dk] = key.shape;
  const dv = value.shape[3];
  let state = initialState ?? zeroState(b, h, dk, dv);
  const outputs: tf.Tensor3D[] = [];
  const at4 = (x: tf.Tensor4D, i: number): tf.Tensor3D => tf.reshape(tf.slice(x, [0, 0, i, 0], [b, h, 1, x.shape[3]]), [b, h, x.shape[3]]);
  const at3 = (x: tf.Tensor3D, i: number): tf.Tensor2D => tf.reshape(tf.slice(x, [0, 0, i], [b, h, 1]), [b, h]);
  for (let i = 0; i < t; i++) {
    const r = deltaRuleStep(state, at4(query, i), at4(key, i), at4(value, i), at3(beta, i), logAlpha ? at3(logAlpha, i) : undefined);
    state = r.state;
    outputs.push(r.output);
  }
  return { output: tf.stack(outputs, 2) as tf.Tensor4D, state };
}
