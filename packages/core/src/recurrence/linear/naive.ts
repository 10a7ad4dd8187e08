import { tf } from "../../tf.js";
import { type RecurrenceResult, zeroState } from "../tensor-ops.js";
import type { Decay, RecurrenceInputs } from "./inputs.js";

/** One step of the recurrence. q, k: [B, H, d_k]; v: [B, H, d_v]; logAlpha: [B, H] or [B, H, d_k]. */
export function recurrenceStep(
  state: tf.Tensor4D,
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  decay: Decay["kind"],
  logAlpha?: tf.Tensor,
): { state: tf.Tensor4D; output: tf.Tensor3D } {
  const [b, h, dv] = v.shape;
  const dk = k.shape[2];
  let decayed: tf.Tensor4D = state;
  if (decay === "scalar") decayed = tf.mul(state, tf.reshape(tf.exp(logAlpha!), [b, h, 1, 1]));
  else if (decay === "diagonal") decayed = tf.mul(state, tf.reshape(tf.exp(logAlpha!), [b, h, dk, 1]));
  const next = tf.add(decayed, tf.mul(tf.reshape(k, [b, k.shape[1], dk, 1]), tf.reshape(v, [b, h, 1, dv]))) as tf.Tensor4D;
  // A product-sum, not a matMul: batched matMul broadcasting over a shared query head gives wrong values.
  const output = tf.sum(tf.mul(tf.reshape(q, [b, q.shape[1], dk, 1]), next), 2) as tf.Tensor3D;
  return { state: next, output };
}

/** The plain step-by-step recurrence: the oracle for every chunked form. */
export function stepwiseScan(inputs: RecurrenceInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, decay } = inputs;
  const [b, h, t, dv] = value.shape;
  const dk = key.shape[3];
  let state = initialState ?? zeroState(b, h, dk, dv);
  const outputs: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i++) {
    const at = (x: tf.Tensor4D): tf.Tensor3D =>
      tf.reshape(tf.slice(x, [0, 0, i, 0], [b, x.shape[1], 1, x.shape[3]]), [b, x.shape[1], x.shape[3]]);
    let logAlpha: tf.Tensor | undefined;
    if (decay.kind === "scalar") logAlpha = tf.reshape(tf.slice(decay.logAlpha, [0, 0, i], [b, h, 1]), [b, h]);
    else if (decay.kind === "diagonal") logAlpha = at(decay.logAlpha);
    const r = recurrenceStep(state, at(query), at(key), at(value), decay.kind, logAlpha);
    state = r.state;
    outputs.push(r.output);
  }
  return { output: tf.stack(outputs, 2) as tf.Tensor4D, state };
}
