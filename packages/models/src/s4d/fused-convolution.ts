import { tf } from "@selectiv/core";

/**
 * out[o + h] += Σ_{l=l0..l1} a[aAt(l) + h] · b[bAt(l) + h] for h < width, where the rows step by ±width as l grows
 * (aStep, bStep), four lags at a time so each output row is loaded and stored once per four rows read.
 */
function accumulateRowProducts(
  out: Float32Array,
  o: number,
  a: Float32Array,
  aAt: number,
  aStep: number,
  b: Float32Array,
  bAt: number,
  bStep: number,
  count: number,
  width: number,
): void {
  let l = 0;
  for (; l + 4 <= count; l += 4) {
    const [a0, b0] = [aAt + l * aStep, bAt + l * bStep];
    const [a1, b1] = [a0 + aStep, b0 + bStep];
    const [a2, b2] = [a1 + aStep, b1 + bStep];
    const [a3, b3] = [a2 + aStep, b2 + bStep];
    for (let h = 0; h < width; h++) {
      out[o + h] = out[o + h]! + a[a0 + h]! * b[b0 + h]! + a[a1 + h]! * b[b1 + h]! + a[a2 + h]! * b[b2 + h]! + a[a3 + h]! * b[b3 + h]!;
    }
  }
  for (; l < count; l++) {
    const [a0, b0] = [aAt + l * aStep, bAt + l * bStep];
    for (let h = 0; h < width; h++) out[o + h] = out[o + h]! + a[a0 + h]! * b[b0 + h]!;
  }
}

/**
 * The causal depthwise convolution y[b, t, h] = Σ_{l≤t} K[l, h] u[b, t−l, h] as one fused op over Float32Arrays
 * (u: [B, T, d], kernel: [T, d]), with its gradient written out:
 *   du[b, s, h] = Σ_{t≥s} dy[b, t, h] K[t−s, h],   dK[l, h] = Σ_b Σ_{t≥l} dy[b, t, h] u[b, t−l, h].
 * Each is B·T²·d/2 multiply-adds over contiguous channel rows; on CPU backends this replaces the Toeplitz
 * matmuls and their layout shuffles.
 */
export function fusedCausalConvolution(u: tf.Tensor3D, kernel: tf.Tensor2D): tf.Tensor3D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [uT, kT] = args as [tf.Tensor3D, tf.Tensor2D];
    const [B, T, d] = uT.shape;
    const x = uT.dataSync() as Float32Array;
    const k = kT.dataSync() as Float32Array;
    const y = new Float32Array(B * T * d);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        // Lags l = 0..t: kernel rows l (ascending), input rows t − l (descending).
        accumulateRowProducts(y, (b * T + t) * d, k, 0, d, x, (b * T + t) * d, -d, t + 1, d);
      }
    }
    return {
      value: tf.tensor3d(y, [B, T, d]),
      gradFunc: (dyT: tf.Tensor) => {
        const dy = dyT.dataSync() as Float32Array;
        const du = new Float32Array(B * T * d);
        const dk = new Float32Array(T * d);
        for (let b = 0; b < B; b++) {
          for (let s = 0; s < T; s++) {
            // du[s] = Σ_{t = s..T−1} dy[t] K[t − s]: both rows ascending.
            accumulateRowProducts(du, (b * T + s) * d, dy, (b * T + s) * d, d, k, 0, d, T - s, d);
            // dK[l] = Σ_{t = l..T−1} dy[t] u[t − l]: both rows ascending.
            accumulateRowProducts(dk, s * d, dy, (b * T + s) * d, d, x, b * T * d, d, T - s, d);
          }
        }
        return [tf.tensor3d(du, [B, T, d]), tf.tensor2d(dk, [T, d])];
      },
    };
  });
  return op(u, kernel) as tf.Tensor3D;
}

/**
 * The S4D convolution kernel K[l, h] = 2 Re Σ_n C'[h, n] z[h, n]^l for l = 0..T−1 ([T, d]) as one fused op, from
 * z and C' [d, N/2] given as real and imaginary parts. Powers are carried in float64 by repeated multiplication.
 * With g_l = 2 dK[l, h], P = Σ_l g_l z^l and S = Σ_l g_l l z^{l−1}, the gradient is (K = Re of a holomorphic
 * function of z and C'):  dC'_re = Re P,  dC'_im = −Im P,  dz_re = Re(C' S),  dz_im = −Im(C' S).
 */
export function fusedConvolutionKernel(
  zRe: tf.Tensor2D,
  zIm: tf.Tensor2D,
  cRe: tf.Tensor2D,
  cIm: tf.Tensor2D,
  length: number,
): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [zrT, ziT, crT, ciT] = args as tf.Tensor2D[];
    const [d, m] = zrT!.shape;
    const [zr, zi, cr, ci] = [zrT!, ziT!, crT!, ciT!].map((t) => t.dataSync() as Float32Array) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const kernel = new Float32Array(length * d);
    for (let h = 0; h < d; h++) {
      for (let n = 0; n < m; n++) {
        const at = h * m + n;
        const [ar, ai, br, bi] = [zr[at]!, zi[at]!, cr[at]!, ci[at]!];
        let [pr, pi] = [1, 0];
        for (let l = 0; l < length; l++) {
          kernel[l * d + h] = kernel[l * d + h]! + 2 * (br * pr - bi * pi);
          [pr, pi] = [pr * ar - pi * ai, pr * ai + pi * ar];
        }
      }
    }
    return {
      value: tf.tensor2d(kernel, [length, d]),
      gradFunc: (dkT: tf.Tensor) => {
        const dk = dkT.dataSync() as Float32Array;
        const [dzr, dzi, dcr, dci] = [0, 1, 2, 3].map(() => new Float32Array(d * m));
        for (let h = 0; h < d; h++) {
          for (let n = 0; n < m; n++) {
            const at = h * m + n;
            const [ar, ai, br, bi] = [zr[at]!, zi[at]!, cr[at]!, ci[at]!];
            // p = z^{l−1} at step l; P and S accumulate as in the doc comment.
            let [pr, pi] = [1, 0];
            let [sumR, sumI] = [2 * dk[h]!, 0];
            let [derR, derI] = [0, 0];
            for (let l = 1; l < length; l++) {
              const g = 2 * dk[l * d + h]!;
              derR += g * l * pr;
              derI += g * l * pi;
              [pr, pi] = [pr * ar - pi * ai, pr * ai + pi * ar];
              sumR += g * pr;
              sumI += g * pi;
            }
            dcr![at] = sumR;
            dci![at] = -sumI;
            dzr![at] = br * derR - bi * derI;
            dzi![at] = -(br * derI + bi * derR);
          }
        }
        return [dzr, dzi, dcr, dci].map((g) => tf.tensor2d(g!, [d, m]));
      },
    };
  });
  return op(zRe, zIm, cRe, cIm) as tf.Tensor2D;
}
