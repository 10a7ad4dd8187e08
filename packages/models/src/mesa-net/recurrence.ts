import { cumsumLastAxis, segmentSums, tf } from "@selectiv/core";

/** Added to both conjugate-gradient denominators (fla's CG, docs/spec/MODELS.md §3.6). */
export const CG_EPSILON = 1e-5;

/**
 * MesaNet's recurrence per head (docs/spec/MODELS.md §3.6), with L2-normalised q, k [B, H, T, d_k], v [B, H, T, d_v],
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
  return conjugateGradientSteps(
    (p) => tf.add(tf.sum(tf.mul(g, tf.reshape(p, [b, h, 1, d])), 3), tf.mul(lambda, p)) as tf.Tensor3D,
    q,
    steps,
  );
}

/** The CG iteration above for any operator `apply` (p ↦ (G + Diag λ) p) over the last axis of q. */
function conjugateGradientSteps<T extends tf.Tensor>(apply: (p: T) => T, q: T, steps: number): T {
  const dot = (a: T, c: T) => tf.sum(tf.mul(a, c), q.rank - 1, true);
  let x = tf.zerosLike(q);
  let r = q;
  let p = q;
  let delta = dot(r, r);
  for (let i = 0; i < steps; i++) {
    const w = apply(p);
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

/** Sequences longer than this run the parallel form in query blocks of PARALLEL_BLOCK positions. */
export const PARALLEL_BLOCK = 512;

/**
 * The parallel form, for GPU backends: every position's G_t at once, the CG steps batched over positions, and the
 * readout as decayed attention. O(T²) work in a number of ops independent of T (the stepwise form issues about
 * T · cgSteps · 10, each a GPU dispatch). With w_ts = β_s exp(Σ_{r=s+1..t} log α_r) for s ≤ t (else 0):
 *   G_t = Σ_s w_ts k_s k_sᵀ,   q*_t = CG(G_t + Diag λ, q_t),   o_t = M_tᵀ q*_t = Σ_s w_ts (k_s · q*_t) v_s.
 * Positions are taken in blocks of `block` queries (each needs the [block, t1] weights of the keys up to its
 * end), so evaluation memory grows as T·block rather than T² (each block is freed once done when no gradient is
 * being recorded).
 */
export function mesaParallel(inputs: MesaInputs, cgSteps: number, block = PARALLEL_BLOCK): tf.Tensor4D {
  const { query, key, value, logAlpha, beta, lambda } = inputs;
  const [b, h, t, dk] = key.shape;
  const dv = value.shape[3];
  const bh = b * h;
  const keys = tf.reshape(key, [bh, t, dk]) as tf.Tensor3D;
  const values = tf.reshape(value, [bh, t, dv]) as tf.Tensor3D;
  const queries = tf.reshape(query, [bh, t, dk]) as tf.Tensor3D;
  const logA = tf.reshape(logAlpha, [bh, t]) as tf.Tensor2D;
  const betas = tf.reshape(beta, [bh, t]) as tf.Tensor2D;
  const outer = tf.reshape(tf.mul(tf.reshape(keys, [bh, t, dk, 1]), tf.reshape(keys, [bh, t, 1, dk])), [bh, t, dk * dk]) as tf.Tensor3D;
  const lam = tf.reshape(lambda, [1, h, 1, dk]);
  const outputs: tf.Tensor3D[] = [];
  for (let t0 = 0; t0 < t; t0 += block) {
    const t1 = Math.min(t, t0 + block);
    const run = () => mesaBlock({ keys, values, queries, logA, betas, outer, lam }, { b, h, dk, dv, t0, t1 }, cgSteps);
    outputs.push(t <= block ? run() : tf.tidy(run));
  }
  const out = outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 1);
  return tf.reshape(out, [b, h, t, dv]) as tf.Tensor4D;
}

/** Queries t0 ≤ t < t1 of mesaParallel, over keys 0 ≤ s < t1. [B·H, t1 − t0, d_v]. */
function mesaBlock(
  x: {
    keys: tf.Tensor3D;
    values: tf.Tensor3D;
    queries: tf.Tensor3D;
    logA: tf.Tensor2D;
    betas: tf.Tensor2D;
    outer: tf.Tensor3D;
    lam: tf.Tensor;
  },
  at: { b: number; h: number; dk: number; dv: number; t0: number; t1: number },
  cgSteps: number,
): tf.Tensor3D {
  const { b, h, dk, t0, t1 } = at;
  const bh = b * h;
  const n = t1 - t0;
  // Log-weights, summing only the log-decays between s and t (exact in fp32 near the diagonal, where it matters):
  // within the block a segment sum; for earlier keys (Σ_{r=t0+1..t}) + (Σ_{r=s+1..t0}), a cumulative sum forward
  // from t0 plus one backward to it.
  const inside = segmentSums(tf.slice(x.logA, [0, t0], [bh, n]));
  let logW: tf.Tensor = inside;
  if (t0 > 0) {
    const sinceStart = tf.sub(cumsumLastAxis(tf.slice(x.logA, [0, t0], [bh, n])), tf.slice(x.logA, [0, t0], [bh, 1]));
    const untilStart = tf.cumsum(tf.slice(x.logA, [0, 1], [bh, t0]), 1, false, true);
    const before = tf.add(tf.reshape(sinceStart, [bh, n, 1]), tf.reshape(untilStart, [bh, 1, t0]));
    logW = tf.concat([before, inside], 2);
  }
  const weights = tf.mul(tf.exp(logW), tf.reshape(tf.slice(x.betas, [0, 0], [bh, t1]), [bh, 1, t1])) as tf.Tensor3D;
  const g = tf.reshape(tf.matMul(weights, tf.slice(x.outer, [0, 0, 0], [bh, t1, dk * dk])), [bh * n, dk, dk]) as tf.Tensor3D;
  const q = tf.reshape(tf.slice(x.queries, [0, t0, 0], [bh, n, dk]), [b, h, n, dk]) as tf.Tensor4D;
  // The CG of conjugateGradient, batched over (b, h, t): G p as one batched matMul.
  const sol = conjugateGradientSteps(
    (p: tf.Tensor4D) => tf.add(tf.reshape(tf.matMul(g, tf.reshape(p, [bh * n, dk, 1])), [b, h, n, dk]), tf.mul(x.lam, p)) as tf.Tensor4D,
    q,
    cgSteps,
  );
  const keysUpTo = tf.slice(x.keys, [0, 0, 0], [bh, t1, dk]) as tf.Tensor3D;
  const scores = tf.mul(weights, tf.matMul(tf.reshape(sol, [bh, n, dk]) as tf.Tensor3D, keysUpTo, false, true));
  return tf.matMul(scores, tf.slice(x.values, [0, 0, 0], [bh, t1, at.dv]) as tf.Tensor3D) as tf.Tensor3D;
}
