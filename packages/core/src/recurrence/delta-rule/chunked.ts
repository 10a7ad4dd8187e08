import { tf } from "../../tf.js";
import { type RecurrenceResult, cumsumLastAxis, maskLastTwo, padTime, segmentSums, sliceInner, zeroState } from "../tensor-ops.js";
import type { DeltaRuleInputs } from "./inputs.js";

/**
 * (I + A)⁻¹ for strictly lower-triangular A [..., C, C], by forward substitution (docs/spec/MODELS.md §6.2):
 * row i = e_i − A_{i,<i} · rows_{<i}. Stable in fp32 even for nearly parallel keys, unlike series products (§9.4).
 */
export function unitLowerInverse(a: tf.Tensor): tf.Tensor {
  const c = a.shape[a.rank - 1]!;
  // Work at rank 3 whatever the leading axes (the webgpu backend mis-compiles some rank-5 shaders).
  const a3 = tf.reshape(a, [-1, c, c]);
  const n = a3.shape[0]!;
  const eye = tf.eye(c);
  const eyeRow = (i: number): tf.Tensor => tf.reshape(tf.slice(eye, [i, 0], [1, c]), [1, 1, c]);
  let rows = tf.add(tf.zeros([n, 1, c]), eyeRow(0)); // an add, not broadcastTo (Tile; see maskLastTwo)
  for (let i = 1; i < c; i++) {
    const coeffs = tf.slice(a3, [0, i, 0], [n, 1, i]); // A_{i,<i}
    rows = tf.concat([rows, tf.sub(eyeRow(i), tf.matMul(coeffs, rows))], 1);
  }
  return tf.reshape(rows, a.shape);
}

export interface DeltaChunkOptions {
  /** Chunk length C (the forward substitution costs C sequential steps per chunk, run for all chunks at once). */
  readonly chunkSize?: number;
}

/**
 * The chunkwise-parallel delta rule (docs/spec/MODELS.md §6.2, the WY/UT form). Per chunk, with b the in-chunk cumulative
 * log-decay and Γ_ij = e^{b_i − b_j} (i ≥ j):
 *   A = strictly_lower(Diag(β)(K Kᵀ) ⊙ Γ),  T = (I + A)⁻¹,  W = T Diag(β e^b) K,  U = T Diag(β) V,
 * then across chunks: V′ = U − W S,  O = Diag(e^b) Q S + ((Q Kᵀ) ⊙ Γ) V′,  S ← e^{b_C} S + (Diag(e^{b_C − b}) K)ᵀ V′.
 * T is zero-padded to a multiple of C: zero keys and betas change nothing.
 */
export function deltaRuleChunked(inputs: DeltaRuleInputs, options: DeltaChunkOptions = {}, initialState?: tf.Tensor4D): RecurrenceResult {
  const { query, key, value, beta, logAlpha } = inputs;
  const [b, h, t, dk] = key.shape;
  const dv = value.shape[3];
  const c = Math.max(1, Math.min(options.chunkSize ?? 16, t));
  const n = Math.ceil(t / c);
  const tp = n * c;
  const q = tf.reshape(padTime(query, tp), [b, h, n, c, dk]);
  const k = tf.reshape(padTime(key, tp), [b, h, n, c, dk]);
  const v = tf.reshape(padTime(value, tp), [b, h, n, c, dv]);
  const betaCol = tf.reshape(padTime(beta, tp), [b, h, n, c, 1]);
  const causal = tf.linalg.bandPart(tf.ones([c, c]), -1, 0).cast("bool");
  const strict = tf.logicalAnd(causal, tf.logicalNot(tf.eye(c).cast("bool")));

  // Cumulative log-decay in each chunk, [B,H,N,C,1]; Γ masked before exp (§9.3).
  const cum = logAlpha ? tf.reshape(cumsumLastAxis(tf.reshape(padTime(logAlpha, tp), [b, h, n, c])), [b, h, n, c, 1]) : undefined;
  const segments = logAlpha ? segmentSums(tf.reshape(padTime(logAlpha, tp), [b, h, n, c])) : undefined;
  const gamma = segments ? tf.exp(segments) : tf.cast(causal, "float32");

  const kk = tf.matMul(k, k, false, true);
  const a = maskLastTwo(tf.mul(tf.mul(kk, gamma), betaCol), strict as tf.Tensor2D, 0);
  const tInv = unitLowerInverse(a);
  const w = tf.matMul(tInv, tf.mul(k, cum ? tf.mul(betaCol, tf.exp(cum)) : betaCol));
  const u = tf.matMul(tInv, tf.mul(v, betaCol));
  const qkGamma = tf.mul(tf.matMul(q, k, false, true), gamma);
  const qDecayed = cum ? tf.mul(q, tf.exp(cum)) : q;
  const last = cum ? sliceInner(cum, [0, 0, 0, c - 1, 0], [b, h, n, 1, 1]) : undefined;
  // e^{b_C − b_j} from the last row of the segment sums (exact for strong decays).
  const kToEnd = segments ? tf.mul(k, tf.reshape(tf.exp(sliceInner(segments, [0, 0, 0, c - 1, 0], [b, h, n, 1, c])), [b, h, n, c, 1])) : k;
  const chunkDecay = last ? tf.exp(last) : undefined;

  const pick = (x: tf.Tensor, i: number): tf.Tensor4D => {
    const size = x.shape.slice() as number[];
    size[2] = 1;
    const begin = x.shape.map(() => 0);
    begin[2] = i;
    return tf.reshape(sliceInner(x, begin, size), [size[0]!, size[1]!, size[3]!, size[4]!]) as tf.Tensor4D;
  };
  let state = initialState ?? zeroState(b, h, dk, dv);
  const outs: tf.Tensor4D[] = [];
  for (let i = 0; i < n; i++) {
    const fresh = tf.sub(pick(u, i), tf.matMul(pick(w, i), state)); // V′ = U − W S
    outs.push(tf.add(tf.matMul(pick(qDecayed, i), state), tf.matMul(pick(qkGamma, i), fresh)) as tf.Tensor4D);
    const carried = chunkDecay ? tf.mul(pick(chunkDecay, i), state) : state;
    state = tf.add(carried, tf.matMul(pick(kToEnd, i), fresh, true, false)) as tf.Tensor4D;
  }
  const out = outs.length === 1 ? outs[0]! : (tf.concat(outs, 2) as tf.Tensor4D);
  const output = (tp === t ? out : tf.slice(out, [0, 0, 0, 0], [b, h, t, dv])) as tf.Tensor4D;
  return { output, state };
}
