import { tf } from "../../tf.js";
import type { SelectiveScanInputs } from "./inputs.js";

/** One step. x, delta: [B, E]; b, c: [B, N]; state [B, E, N]. */
export function selectiveScanStep(
  state: tf.Tensor3D,
  x: tf.Tensor2D,
  delta: tf.Tensor2D,
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  c: tf.Tensor2D,
): { state: tf.Tensor3D; y: tf.Tensor2D } {
  const [bs, e] = x.shape;
  const n = a.shape[1];
  const d3 = tf.reshape(delta, [bs, e, 1]);
  const decay = tf.exp(tf.mul(d3, tf.reshape(a, [1, e, n])));
  const write = tf.mul(tf.mul(d3, tf.reshape(x, [bs, e, 1])), tf.reshape(b, [bs, 1, n]));
  const next = tf.add(tf.mul(decay, state), write) as tf.Tensor3D;
  const y = tf.reshape(tf.matMul(next, tf.reshape(c, [bs, n, 1])), [bs, e]) as tf.Tensor2D;
  return { state: next, y };
}

/** The plain recurrence in TF ops: the oracle for the fused scan. */
export function selectiveScanStepwise(inputs: SelectiveScanInputs, initialState?: tf.Tensor3D): { y: tf.Tensor3D; state: tf.Tensor3D } {
  const { x, delta, a, b, c } = inputs;
  const [bs, t, e] = x.shape;
  const n = a.shape[1];
  let state = initialState ?? (tf.zeros([bs, e, n]) as tf.Tensor3D);
  const ys: tf.Tensor2D[] = [];
  const at = (v: tf.Tensor3D, i: number): tf.Tensor2D => tf.reshape(tf.slice(v, [0, i, 0], [bs, 1, v.shape[2]]), [bs, v.shape[2]]);
  for (let i = 0; i < t; i++) {
    const r = selectiveScanStep(state, at(x, i), at(delta, i), a, at(b, i), at(c, i));
    state = r.state;
    ys.push(r.y);
  }
  return { y: tf.stack(ys, 1) as tf.Tensor3D, state };
}
