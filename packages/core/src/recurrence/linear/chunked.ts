import { tf } from "../../tf.js";
import { type RecurrenceResult, cumsumLastAxis, maskLastTwo, padTime, segmentSums, sliceInner, zeroState } from "../tensor-ops.js";
import type { RecurrenceInputs } from "./inputs.js";

export interface ChunkOptions {
  /** Chunk length C. 16 keeps the diagonal-decay factorisation finite down to log α ≈ −11 per step (§9.3). */
  readonly chunkSize?: number;
}

/** Inclusive cumulative sum over the chunk axis (axis 3) of [B, H, N, C, D], done on the last axis (§9.2). */
function cumsumChunkAxis(x: tf.Tensor): tf.Tensor {
  return tf.transpose(cumsumLastAxis(tf.transpose(x, [0, 1, 2, 4, 3])), [0, 1, 2, 4, 3]);
}

/**
 * The chunkwise-parallel form of the decayed linear recurrence (docs/spec/MODELS.md §6.1). Within a chunk, outputs come
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
