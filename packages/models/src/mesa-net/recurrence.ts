import { segmentSums, tf } from "@selectiv/core";

/** Added to both conjugate-gradient denominators (fla's CG, models.md §3.6). */
export const CG_EPSILON = 1e-5;

/**
 * MesaNet's recurrence per head (models.md §3.6), with L2-normalised q, k [B, H, T, d_k], v [B, H, T, d_v],
 * log α and β [B, H, T], and the regulariser λ [H, d_k]:
 *   G_t = α_t G_{t−1} + β_t k_t k_tᵀ,  M_t = α_t M_{t−1} + β_t k_t v_tᵀ,
 *   q*_t = (G_t + Diag(λ))⁻¹ q_t  (a fixed number of CG steps from x = 0),  o_t = M_tᵀ q*_t.
 */
export interface MesaInputs {
  readonly query: tf.Tensor4D;
  readonly key: tf.Tensor4D;
  readonly value: tf.Tensor4D;
  readonly logAlpha: tf.Tensor3D;
  readonly beta: tf.Tensor3D;
  readonly lambda: tf.Tensor2D;
}

/** G [B, H, d_k, d_k] and M [B, H, d_k, d_v]. */
export interface MesaState {
  readonly g: tf.Tensor4D;
  readonly m: tf.Tensor4D;
}

export function zeroMesaState(batch: number, heads: number, dk: number, dv: number): MesaState {
  return { g: tf.zeros([batch, heads, dk, dk]), m: tf.zeros([batch, heads, dk, dv]) };
}

/**
 * x ≈ (G + Diag(λ))⁻¹ q by `steps` conjugate-gradient steps from x = 0, as fla's kernels run them:
 *   r = p = q, δ = r·r;  each step: w = (G + Diag λ) p, a = δ/(p·w + ε), x += a p, r −= a w, δ' = r·r,
 *   p = r + δ'/(δ + ε) p.  g: [B, H, d, d]; q: [B, H, d]; λ: [H, d].
 */
export function conjugateGradient(g: tf.Tensor4D, lambda: tf.Tensor2D, q: tf.Tensor3D, steps: number): tf.Tensor3D {
  const [b, h, d] = q.shape;
  const applyMatrix = (p: tf.Tensor3D): tf.Tensor3D =>
    tf.add(tf.sum(tf.mul(g, tf.reshape(p, [b, h, 1, d])), 3), tf.mul(lambda, p)) as tf.Tensor3D;
  const dot = (a: tf.Tensor3D, c: tf.Tensor3D) => tf.sum(tf.mul(a, c), 2, true);
  let x: tf.Tensor3D = tf.zerosLike(q);
  let r = q;
  let p = q;
  let delta = dot(r, r);
  for (let i = 0; i < steps; i++) {
    const w = applyMatrix(p);
    const a = tf.div(delta, tf.add(dot(p, w), CG_EPSILON));
    x = tf.add(x, tf.mul(a, p));
    r = tf.sub(r, tf.mul(a, w));
    const next = dot(r, r);
    p = tf.add(r, tf.mul(tf.div(next, tf.add(delta, CG_EPSILON)), p));
    delta = next;
  }
  return x;
}

/** One step. q, k: [B, H, d_k]; v: [B, H, d_v]; logAlpha, beta: [B, H]; λ: [H, d_k]. Returns o_t [B, H, d_v]. */
export function mesaStep(
  state: MesaState,
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  logAlpha: tf.Tensor2D,
  beta: tf.Tensor2D,
  lambda: tf.Tensor2D,
  cgSteps: number,
): { state: MesaState; output: tf.Tensor3D } {
  const [b, h, dk] = k.shape;
  const dv = v.shape[2];
  const alpha = tf.reshape(tf.exp(logAlpha), [b, h, 1, 1]);
  const weighted = tf.reshape(tf.mul(k, tf.reshape(beta, [b, h, 1])), [b, h, dk, 1]);
  const g = tf.add(tf.mul(alpha, state.g), tf.mul(weighted, tf.reshape(k, [b, h, 1, dk]))) as tf.Tensor4D;
  const m = tf.add(tf.mul(alpha, state.m), tf.mul(weighted, tf.reshape(v, [b, h, 1, dv]))) as tf.Tensor4D;
  const solution = conjugateGradient(g, lambda, q, cgSteps);
  const output = tf.sum(tf.mul(tf.reshape(solution, [b, h, dk, 1]), m), 2) as tf.Tensor3D;
  return { state: { g, m }, output };
}

/** The plain recurrence in TF ops, differentiated through every unrolled CG step: the oracle for the fused kernel. */
export function mesaStepwise(inputs: MesaInputs, cgSteps: number): tf.Tensor4D {
  const { query, key, value, logAlpha, beta, lambda } = inputs;
  const [b, h, t, dk] = key.shape;
  const dv = value.shape[3];
  let state = zeroMesaState(b, h, dk, dv);
  const at = (x: tf.Tensor4D, i: number): tf.Tensor3D => tf.reshape(tf.slice(x, [0, 0, i, 0], [b, h, 1, x.shape[3]]), [b, h, x.shape[3]]);
  const gate = (x: tf.Tensor3D, i: number): tf.Tensor2D => tf.reshape(tf.slice(x, [0, 0, i], [b, h, 1]), [b, h]);
  const outputs: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i++) {
    const r = mesaStep(state, at(query, i), at(key, i), at(value, i), gate(logAlpha, i), gate(beta, i), lambda, cgSteps);
    state = r.state;
    outputs.push(r.output);
  }
  // tf.stack rejects a single tensor inside gradient tapes: expand instead.
  return (t === 1 ? tf.expandDims(outputs[0]!, 2) : tf.stack(outputs, 2)) as tf.Tensor4D;
}

/**
 * The parallel form, for GPU backends: every position's G_t at once, the CG steps batched over positions, and the
 * readout as decayed attention. O(T²) work in a number of ops independent of T (the stepwise form issues about
 * T · cgSteps · 10, each a GPU dispatch). With w_ts = β_s exp(Σ_{r=s+1..t} log α_r) for s ≤ t (else 0):
 *   G_t = Σ_s w_ts k_s k_sᵀ,   q*_t = CG(G_t + Diag λ, q_t),   o_t = M_tᵀ q*_t = Σ_s w_ts (k_s · q*_t) v_s.
 */
export function mesaParallel(inputs: MesaInputs, cgSteps: number): tf.Tensor4D {
  const { query, key, value, logAlpha, beta, lambda } = inputs;
  const [b, h, t, dk] = key.shape;
  const dv = value.shape[3];
  const bh = b * h;
  const weights = tf.mul(tf.exp(segmentSums(tf.reshape(logAlpha, [bh, t]))), tf.reshape(beta, [bh, 1, t])) as tf.Tensor3D;
  const keys = tf.reshape(key, [bh, t, dk]) as tf.Tensor3D;
  const outer = tf.reshape(tf.mul(tf.reshape(keys, [bh, t, dk, 1]), tf.reshape(keys, [bh, t, 1, dk])), [bh, t, dk * dk]);
  const g = tf.reshape(tf.matMul(weights, outer), [bh * t, dk, dk]) as tf.Tensor3D;
  const lam = tf.reshape(lambda, [1, h, 1, dk]);
  const applyMatrix = (p: tf.Tensor4D): tf.Tensor4D =>
    tf.add(tf.reshape(tf.matMul(g, tf.reshape(p, [bh * t, dk, 1])), [b, h, t, dk]), tf.mul(lam, p)) as tf.Tensor4D;
  const dot = (a: tf.Tensor4D, c: tf.Tensor4D) => tf.sum(tf.mul(a, c), 3, true);
  // The CG of conjugateGradient, batched over (b, h, t).
  let x: tf.Tensor4D = tf.zerosLike(query);
  let r = query;
  let p = query;
  let delta = dot(r, r);
  for (let i = 0; i < cgSteps; i++) {
    const w = applyMatrix(p);
    const a = tf.div(delta, tf.add(dot(p, w), CG_EPSILON));
    x = tf.add(x, tf.mul(a, p));
    r = tf.sub(r, tf.mul(a, w));
    const next = dot(r, r);
    p = tf.add(r, tf.mul(tf.div(next, tf.add(delta, CG_EPSILON)), p));
    delta = next;
  }
  const scores = tf.mul(weights, tf.matMul(tf.reshape(x, [bh, t, dk]) as tf.Tensor3D, keys, false, true));
  return tf.reshape(tf.matMul(scores, tf.reshape(value, [bh, t, dv]) as tf.Tensor3D), [b, h, t, dv]) as tf.Tensor4D;
}
