import { tf } from "@selectiv/core";

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** out[o + j] += Σ_{i<n} coef[c + i] · w[i·width + j] for j < width; four rows of w per pass over out. */
function addRowCombination(out: Float64Array, o: number, coef: Float32Array, c: number, n: number, w: Float32Array, width: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const [c0, c1, c2, c3] = [coef[c + i]!, coef[c + i + 1]!, coef[c + i + 2]!, coef[c + i + 3]!];
    const r0 = i * width;
    const [r1, r2, r3] = [r0 + width, r0 + 2 * width, r0 + 3 * width];
    for (let j = 0; j < width; j++) out[o + j] = out[o + j]! + c0 * w[r0 + j]! + c1 * w[r1 + j]! + c2 * w[r2 + j]! + c3 * w[r3 + j]!;
  }
  for (; i < n; i++) {
    const ci = coef[c + i]!;
    const r = i * width;
    for (let j = 0; j < width; j++) out[o + j] = out[o + j]! + ci * w[r + j]!;
  }
}

/** out[i] += Σ_j w[i·width + j] · v[at + j] for i < n; four rows per pass over v. */
function addMatrixVector(out: Float64Array, w: Float32Array, n: number, width: number, v: Float32Array, at: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * width;
    const [r1, r2, r3] = [r0 + width, r0 + 2 * width, r0 + 3 * width];
    let [a0, a1, a2, a3] = [0, 0, 0, 0];
    for (let j = 0; j < width; j++) {
      const vj = v[at + j]!;
      a0 += w[r0 + j]! * vj;
      a1 += w[r1 + j]! * vj;
      a2 += w[r2 + j]! * vj;
      a3 += w[r3 + j]! * vj;
    }
    out[i] = out[i]! + a0;
    out[i + 1] = out[i + 1]! + a1;
    out[i + 2] = out[i + 2]! + a2;
    out[i + 3] = out[i + 3]! + a3;
  }
  for (; i < n; i++) {
    const r = i * width;
    let a = 0;
    for (let j = 0; j < width; j++) a += w[r + j]! * v[at + j]!;
    out[i] = out[i]! + a;
  }
}

/** out[i·width + j] += u[at + i] · v[j] for i < n, j < width; four rows per pass over v. */
function addOuterProduct(out: Float64Array, u: Float32Array, at: number, n: number, v: Float32Array, width: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const [u0, u1, u2, u3] = [u[at + i]!, u[at + i + 1]!, u[at + i + 2]!, u[at + i + 3]!];
    const r0 = i * width;
    const [r1, r2, r3] = [r0 + width, r0 + 2 * width, r0 + 3 * width];
    for (let j = 0; j < width; j++) {
      const vj = v[j]!;
      out[r0 + j] = out[r0 + j]! + u0 * vj;
      out[r1 + j] = out[r1 + j]! + u1 * vj;
      out[r2 + j] = out[r2 + j]! + u2 * vj;
      out[r3 + j] = out[r3 + j]! + u3 * vj;
    }
  }
  for (; i < n; i++) {
    const ui = u[at + i]!;
    const r = i * width;
    for (let j = 0; j < width; j++) out[r + j] = out[r + j]! + ui * v[j]!;
  }
}

/**
 * The GRU recurrence of docs/spec/MODELS.md §5.3 as one fused op over Float32Arrays, with a hand-written backward.
 * Input: the input-side gate pre-activations gi = x W_ih + b_ih [B, T, 3d] (order r, z, n), the recurrent weight
 * W_hh [d, 3d] (stored in × out) and bias b_hh [3d]. Output: h_1..h_T [B, T, d] from h_0 = 0.
 * Per step, with gh = h_{t−1} W_hh + b_hh:
 *   r = σ(gi_r + gh_r),  z = σ(gi_z + gh_z),  n = tanh(gi_n + r ⊙ gh_n),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
 * Backward (dh carries ∂L/∂h_t): dn = dh(1 − z), dz = dh(h_{t−1} − n), â_n = dn(1 − n²), â_r = â_n gh_n r(1 − r),
 *   â_z = dz z(1 − z);  dgi = [â_r, â_z, â_n];  dgh = [â_r, â_z, â_n r];  dh_{t−1} = dh z + W_hh dgh;
 *   dW_hh = Σ_t h_{t−1}ᵀ dgh_t,  db_hh = Σ_t dgh_t.
 * Only the output H is kept: the backward recomputes gh from it. Memory beyond the inputs is O(B·T·3d) transient.
 */
export function fusedGru(inputGates: tf.Tensor3D, recurrentWeight: tf.Tensor2D, recurrentBias: tf.Tensor1D): tf.Tensor3D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [giT, wT, bT, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const [B, T, d3] = giT.shape;
    const d = d3 / 3;
    const gi = giT.dataSync() as Float32Array;
    const w = wT.dataSync() as Float32Array;
    const bias = bT.dataSync() as Float32Array;
    const gh = new Float64Array(d3);

    /** gh = h_{t−1} W_hh + b_hh, with h_{t−1} read from `hidden` (zero at t = 0). */
    const recurrentGates = (hidden: Float32Array, b: number, t: number): void => {
      for (let j = 0; j < d3; j++) gh[j] = bias[j]!;
      if (t > 0) addRowCombination(gh, 0, hidden, (b * T + t - 1) * d, d, w, d3);
    };

    const out = new Float32Array(B * T * d);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        recurrentGates(out, b, t);
        const g = (b * T + t) * d3;
        const o = (b * T + t) * d;
        for (let i = 0; i < d; i++) {
          const r = sigmoid(gi[g + i]! + gh[i]!);
          const z = sigmoid(gi[g + d + i]! + gh[d + i]!);
          const n = Math.tanh(gi[g + 2 * d + i]! + r * gh[2 * d + i]!);
          const hp = t > 0 ? out[o - d + i]! : 0;
          out[o + i] = (1 - z) * n + z * hp;
        }
      }
    }
    const hidden = tf.tensor3d(out, [B, T, d]);
    save([hidden]);
    return {
      value: hidden,
      gradFunc: (dyT: tf.Tensor, saved: tf.Tensor[]) => {
        const dy = dyT.dataSync() as Float32Array;
        const h = saved[0]!.dataSync() as Float32Array;
        const dgi = new Float32Array(B * T * d3);
        const dgh = new Float32Array(d3);
        const dw = new Float64Array(d * d3);
        const db = new Float64Array(d3);
        const dh = new Float64Array(d);
        for (let b = 0; b < B; b++) {
          dh.fill(0);
          for (let t = T - 1; t >= 0; t--) {
            recurrentGates(h, b, t);
            const g = (b * T + t) * d3;
            const o = (b * T + t) * d;
            for (let i = 0; i < d; i++) {
              const r = sigmoid(gi[g + i]! + gh[i]!);
              const z = sigmoid(gi[g + d + i]! + gh[d + i]!);
              const ghn = gh[2 * d + i]!;
              const n = Math.tanh(gi[g + 2 * d + i]! + r * ghn);
              const dhi = dh[i]! + dy[o + i]!;
              const hp = t > 0 ? h[o - d + i]! : 0;
              const an = dhi * (1 - z) * (1 - n * n);
              const ar = an * ghn * r * (1 - r);
              const az = dhi * (hp - n) * z * (1 - z);
              dgi[g + i] = ar;
              dgi[g + d + i] = az;
              dgi[g + 2 * d + i] = an;
              dgh[i] = ar;
              dgh[d + i] = az;
              dgh[2 * d + i] = an * r;
              dh[i] = dhi * z;
            }
            for (let j = 0; j < d3; j++) db[j] = db[j]! + dgh[j]!;
            if (t > 0) {
              addMatrixVector(dh, w, d, d3, dgh, 0);
              addOuterProduct(dw, h, o - d, d, dgh, d3);
            }
          }
        }
        return [tf.tensor3d(dgi, [B, T, d3]), tf.tensor2d(Float32Array.from(dw), [d, d3]), tf.tensor1d(Float32Array.from(db))];
      },
    };
  });
  return op(inputGates, recurrentWeight, recurrentBias) as tf.Tensor3D;
}
