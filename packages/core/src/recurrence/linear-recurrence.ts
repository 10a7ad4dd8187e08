import { tf } from "../tf.js";
import { prefersFusedKernels } from "./kernels.js";
import { fusedScan } from "./fused-scan.js";

/**
 * The transition A_t of a decayed linear recurrence, as log-decays (models.md §8):
 * "none" A_t = I; "scalar" A_t = α_t I per head; "diagonal" A_t = Diag(α_t), one decay per key channel.
 * log α ≤ 0 always: decays stay in log space until masked differences are exponentiated (§9.3).
 */
export type Decay =
  | { readonly kind: "none" }
  | { readonly kind: "scalar"; readonly logAlpha: tf.Tensor3D }
  | { readonly kind: "diagonal"; readonly logAlpha: tf.Tensor4D };

/**
 * A linear recurrence per head with key-major state S_t ∈ ℝ^{d_k×d_v}:
 *   S_t = A_t S_{t−1} + k_t v_tᵀ   (the write B_t),   o_t = S_tᵀ q_t   (the readout C_t, after the update).
 * Shapes: query, key [B, H, T, d_k]; value [B, H, T, d_v]. The query carries any scale (e.g. 1/√d_k).
 * Query and key may instead have one head ([B, 1, T, d_k]) shared by every head, as Mamba2's C and B.
 */
export interface RecurrenceInputs {
  readonly query: tf.Tensor4D;
  readonly key: tf.Tensor4D;
  readonly value: tf.Tensor4D;
  readonly decay: Decay;
}

export interface RecurrenceResult {
  /** [B, H, T, d_v] */
  readonly output: tf.Tensor4D;
  /** [B, H, d_k, d_v], the state after the last step. */
  readonly state: tf.Tensor4D;
}

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

export function zeroState(batch: number, heads: number, dk: number, dv: number): tf.Tensor4D {
  return tf.zeros([batch, heads, dk, dv]);
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

export interface ChunkOptions {
  /** Chunk length C. 16 keeps the diagonal-decay factorisation finite down to log α ≈ −11 per step (§9.3). */
  readonly chunkSize?: number;
}

/** Zero-pads axis 2 (time) of x to `padded` steps. */
export function padTime<T extends tf.Tensor>(x: T, padded: number): T {
  const t = x.shape[2]!;
  if (padded === t) return x;
  const pad: [number, number][] = x.shape.map(() => [0, 0] as [number, number]);
  pad[2] = [0, padded - t];
  return tf.pad(x, pad);
}

/**
 * tf.slice of a rank-5 [B, H, …] tensor that keeps axes 0 and 1 whole, done at rank 4 (B·H merged): the
 * gradient of a slice is a pad, and the webgpu backend's rank-5 pad shader does not compile.
 */
export function sliceInner(x: tf.Tensor, begin: number[], size: number[]): tf.Tensor {
  if (x.rank < 5) return tf.slice(x, begin, size);
  const [s0, s1, ...rest] = x.shape as number[];
  const merged = tf.reshape(x, [s0! * s1!, ...rest]);
  const inner = tf.slice(merged, [0, ...begin.slice(2)], [s0! * s1!, ...size.slice(2)]);
  return tf.reshape(inner, [s0!, s1!, ...inner.shape.slice(1)]);
}

/**
 * Inclusive cumulative sum over the last axis, as a rank-2 cumsum: the webgpu backend has no cumsum above
 * rank 4, and a positive last axis keeps the gradient right (§9.2).
 */
export function cumsumLastAxis(x: tf.Tensor): tf.Tensor {
  const n = x.shape[x.rank - 1]!;
  return tf.reshape(tf.cumsum(tf.reshape(x, [-1, n]), 1), x.shape);
}

/**
 * x where `keep` (a [C, C] bool mask over the last two axes), else `fill`. Done at rank 3: tf.where broadcasts
 * through Tile, which the webgpu backend runs on the CPU above rank 4 (a synchronous read Node cannot do).
 */
export function maskLastTwo(x: tf.Tensor, keep: tf.Tensor2D, fill: number): tf.Tensor {
  const [r, c] = keep.shape;
  return tf.reshape(tf.where(keep, tf.reshape(x, [-1, r, c]), fill), x.shape);
}

/**
 * Segment sums of per-step log-decays x [..., C]: M[i, j] = Σ_{l=j+1..i} x_l for i ≥ j, −∞ above the diagonal.
 * Summing only the terms between j and i (instead of subtracting two long cumulative sums) keeps strong decays
 * exact in fp32, values and gradients (the ssd_minimal "segsum" idea). Returns [..., C, C].
 */
export function segmentSums(x: tf.Tensor): tf.Tensor {
  const c = x.shape[x.rank - 1]!;
  const lead = x.shape.slice(0, -1);
  // X[j, l] = x_l where l > j; a cumulative sum over l gives Σ_{j < l ≤ i} x_l at [j, i].
  // A multiply broadcasts (tile has no gradient at rank 5).
  const later = tf.linalg.bandPart(tf.ones([c, c]), 0, -1).sub(tf.eye(c));
  const spread = tf.mul(tf.reshape(x, [...lead, 1, c]), later);
  const sums = cumsumLastAxis(spread);
  const perm = [...lead.map((_, i) => i), x.rank, x.rank - 1];
  const causal = tf.linalg.bandPart(tf.ones([c, c]), -1, 0).cast("bool");
  // A large finite fill, not −∞: exp gives 0 all the same, and no backend has to carry an infinity.
  return maskLastTwo(tf.transpose(sums, perm), causal as tf.Tensor2D, -1e30);
}

/** Inclusive cumulative sum over the chunk axis (axis 3) of [B, H, N, C, D], done on the last axis (§9.2). */
function cumsumChunkAxis(x: tf.Tensor): tf.Tensor {
  return tf.transpose(cumsumLastAxis(tf.transpose(x, [0, 1, 2, 4, 3])), [0, 1, 2, 4, 3]);
}

/**
 * The chunkwise-parallel form of the decayed linear recurrence (models.md §6.1). Within a chunk, outputs come
 * from masked matmuls; only the chunk-boundary states are carried sequentially. Equal to stepwiseScan in values
 * and gradients. T is zero-padded to a multiple of C (zero keys and values write nothing, zero log-decays keep).
 */
export function chunkedScan(inputs: RecurrenceInputs, options: ChunkOptions = {}, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, decay } = inputs;
  const [b, h, t, dv] = value.shape;
  const dk = key.shape[3];
  const c = Math.max(1, Math.min(options.chunkSize ?? 16, t));
  const n = Math.ceil(t / c);
  const tp = n * c;
  const chunks = <T extends tf.Tensor>(x: T, d: number): tf.Tensor5D => tf.reshape(padTime(x, tp), [b, x.shape[1]!, n, c, d]);
  const q = chunks(query, dk);
  const k = chunks(key, dk);
  const v = chunks(value, dv);
  const causal = tf.linalg.bandPart(tf.ones([c, c]), -1, 0).cast("bool");

  // Per-position cumulative log-decay b_i inside each chunk: [B,H,N,C,1] (scalar) or [B,H,N,C,dk] (diagonal).
  let cum: tf.Tensor;
  if (decay.kind === "none") cum = tf.zeros([b, h, n, c, 1]);
  else if (decay.kind === "scalar")
    cum = tf.reshape(cumsumLastAxis(tf.reshape(padTime(decay.logAlpha, tp), [b, h, n, c])), [b, h, n, c, 1]);
  else cum = cumsumChunkAxis(chunks(decay.logAlpha, dk));
  const last = sliceInner(cum, [0, 0, 0, c - 1, 0], [b, h, n, 1, cum.shape[4]!]);

  const segments = decay.kind === "scalar" ? segmentSums(tf.reshape(padTime(decay.logAlpha, tp), [b, h, n, c])) : undefined;

  // Intra-chunk scores P_ij = Σ_c q_ic k_jc exp(b_ic − b_jc) for i ≥ j.
  let scores: tf.Tensor;
  if (decay.kind === "diagonal") {
    // Factorise around the middle row r so both factors stay within exp(±|b_C|/2) (§6.1 option a).
    const mid = sliceInner(cum, [0, 0, 0, Math.floor((c - 1) / 2), 0], [b, h, n, 1, dk]);
    const qf = tf.mul(q, tf.exp(tf.sub(cum, mid)));
    const kf = tf.mul(k, tf.exp(tf.sub(mid, cum)));
    scores = maskLastTwo(tf.matMul(qf, kf, false, true), causal as tf.Tensor2D, 0);
  } else {
    const gamma = segments ? tf.exp(segments) : tf.cast(causal, "float32");
    scores = tf.mul(tf.matMul(q, k, false, true), gamma);
  }
  const intra = tf.matMul(scores, v);

  // Chunk-boundary states: S_next = e^{b_C} S_prev + (k ⊙ e^{b_C − b})ᵀ v.
  // e^{b_C − b_j}: for scalar decays from the segment sums' last row (exact), for diagonal ones by difference.
  const toEnd =
    decay.kind === "scalar"
      ? tf.reshape(tf.exp(sliceInner(segments!, [0, 0, 0, c - 1, 0], [b, h, n, 1, c])), [b, h, n, c, 1])
      : tf.exp(tf.sub(last, cum));
  const written = tf.matMul(tf.mul(k, toEnd), v, true, false); // [B,H,N,dk,dv]
  const chunkDecay = tf.exp(tf.reshape(last, [b, h, n, last.shape[4]!, 1])); // [B,H,N,1|dk,1]
  // Slices, not tf.unstack: Unpack is very slow on the wasm backend.
  const chunk = (x: tf.Tensor, i: number): tf.Tensor4D => {
    const [s0, s1, , s3, s4] = x.shape as number[];
    return tf.reshape(sliceInner(x, [0, 0, i, 0, 0], [s0!, s1!, 1, s3!, s4!]), [s0!, s1!, s3!, s4!]);
  };
  let state = initialState ?? zeroState(b, h, dk, dv);
  const entering: tf.Tensor4D[] = [];
  for (let i = 0; i < n; i++) {
    entering.push(state);
    state = tf.add(tf.mul(chunk(chunkDecay, i), state), chunk(written, i));
  }
  // tf.stack rejects a single tensor inside gradient tapes: expand instead.
  const prev = n === 1 ? tf.expandDims(entering[0]!, 2) : tf.stack(entering, 2);
  const inter = tf.matMul(tf.mul(q, tf.exp(cum)), prev as tf.Tensor5D);
  const out = tf.reshape(tf.add(intra, inter), [b, h, tp, dv]);
  const output = (tp === t ? out : tf.slice(out, [0, 0, 0, 0], [b, h, t, dv])) as tf.Tensor4D;
  return { output, state };
}

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
