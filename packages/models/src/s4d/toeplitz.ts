import { prefersFusedKernels, tf } from "@selectiv/core";
import { fusedCausalConvolution } from "./fused-convolution.js";

// Layouts keep time (or the block index) on the leading axis wherever a slice is taken: TF.js's CPU slice
// copies a non-contiguous region one element at a time (about 1 µs each), a contiguous one at memcpy speed.
// Likewise its binary ops are fast only when one operand's shape is a suffix of the other's.

/**
 * z^l for l = 0..T−1, elementwise for complex z = zr + i·zi of any shape S, as real and imaginary parts [T, ...S].
 * Built by doubling (the powers 0..2^j−1 times z^{2^j}, with z^{2^j} by repeated squaring), so the phase error
 * grows with l, as in the recurrence, rather than with the angle l·arg z that cos(l·arg z) would round in fp32.
 */
export function complexPowers(zr: tf.Tensor, zi: tf.Tensor, length: number): { re: tf.Tensor; im: tf.Tensor } {
  // The steps keep shape S, so every product broadcasts over leading axes only (the CPU backend's fast path).
  let [stepRe, stepIm] = [zr, zi];
  let re: tf.Tensor = tf.ones([1, ...zr.shape]);
  let im: tf.Tensor = tf.zeros([1, ...zr.shape]);
  let filled = 1;
  while (filled < length) {
    const nextRe = tf.sub(tf.mul(re, stepRe), tf.mul(im, stepIm));
    const nextIm = tf.add(tf.mul(re, stepIm), tf.mul(im, stepRe));
    re = tf.concat([re, nextRe], 0);
    im = tf.concat([im, nextIm], 0);
    filled *= 2;
    if (filled < length) {
      [stepRe, stepIm] = [tf.sub(tf.square(stepRe), tf.square(stepIm)), tf.mul(tf.mul(stepRe, stepIm), 2)];
    }
  }
  if (filled === length) return { re, im };
  const size = [length, ...zr.shape];
  const begin = size.map(() => 0);
  return { re: tf.slice(re, begin, size), im: tf.slice(im, begin, size) };
}

/**
 * Causal depthwise convolution y[b, t, h] = Σ_{s≤t} K[t−s, h] u[b, s, h], u: [B, T, d], kernel: [T, d].
 * On CPU backends a fused kernel (fused-convolution.ts); elsewhere block-Toeplitz matmuls.
 */
export function causalConvolution(u: tf.Tensor3D, kernel: tf.Tensor2D, blockLength: number): tf.Tensor3D {
  return prefersFusedKernels() ? fusedCausalConvolution(u, kernel) : toeplitzConvolution(u, kernel, blockLength);
}

/**
 * The causal convolution as block-Toeplitz matmuls (docs/spec/MODELS.md §9.1: TF.js FFT has no gradient). Time is cut into
 * n blocks of length C; the lag-m block of the Toeplitz matrix (entries K[mC + i − j, h]) multiplies input block
 * s into output block s + m, as one batched matmul over (block, channel) per lag block. Memory is O(d·T·C) for
 * the blocks instead of O(d·T²); for T ≤ C it is a single Toeplitz matmul.
 */
export function toeplitzConvolution(u: tf.Tensor3D, kernel: tf.Tensor2D, blockLength: number): tf.Tensor3D {
  const [b, t, d] = u.shape;
  const c = Math.max(1, Math.min(blockLength, t));
  const n = Math.ceil(t / c);
  const tp = n * c;
  const blocks = lagBlocks(kernel, c, n);
  // [B, T, d] → [n (block), d, C (position in block), B].
  const timeMajor = tf.transpose(u, [1, 0, 2]);
  const padded =
    tp === t
      ? timeMajor
      : tf.pad(timeMajor, [
          [0, tp - t],
          [0, 0],
          [0, 0],
        ]);
  const inputs = tf.transpose(tf.reshape(padded, [n, c, b, d]), [0, 3, 1, 2]);
  let out: tf.Tensor | undefined;
  for (let m = 0; m < n; m++) {
    const count = n - m;
    // Lag block m, the same for every input block: broadcast over the blocks it meets.
    const block = tf.mul(tf.slice(blocks, [m, 0, 0, 0], [1, d, c, c]), tf.ones([count, 1, 1, 1]));
    const source = tf.slice(inputs, [0, 0, 0, 0], [count, d, c, b]);
    const product = tf.reshape(
      tf.matMul(tf.reshape(block, [count * d, c, c]) as tf.Tensor3D, tf.reshape(source, [count * d, c, b]) as tf.Tensor3D),
      [count, d, c, b],
    );
    const shifted =
      m === 0
        ? product
        : tf.pad(product, [
            [m, 0],
            [0, 0],
            [0, 0],
            [0, 0],
          ]);
    out = out ? tf.add(out, shifted) : shifted;
  }
  // [n, d, C, B] → [T, B, d] → [B, T, d].
  const rows = tf.reshape(tf.transpose(out!, [0, 2, 3, 1]), [tp, b, d]);
  const kept = tp === t ? rows : tf.slice(rows, [0, 0, 0], [t, b, d]);
  return tf.transpose(kept, [1, 0, 2]) as tf.Tensor3D;
}

/**
 * The n lag blocks [n, d, C, C], block m holding K[mC + i − j] at (i, j) (0 for negative lags), from the kernel
 * [T ≤ nC, d]. Column j of every block is one contiguous run of lags, K[mC − j .. mC − j + C), so each of the C
 * columns is a single slice along time of the zero-padded kernel, reshaped into blocks.
 */
function lagBlocks(kernel: tf.Tensor2D, c: number, n: number): tf.Tensor4D {
  const [t, d] = kernel.shape;
  const tp = n * c;
  // Kx[p] = K[p − (C − 1)]: C − 1 zero lags in front, zeros after T.
  const extended = tf.pad(kernel, [
    [c - 1, tp - t],
    [0, 0],
  ]);
  const columns: tf.Tensor[] = [];
  for (let j = 0; j < c; j++) columns.push(tf.reshape(tf.slice(extended, [c - 1 - j, 0], [tp, d]), [n, c, 1, d]));
  // tf.concat rather than tf.stack, which rejects a single tensor inside gradient tapes.
  const stacked = c === 1 ? columns[0]! : tf.concat(columns, 2);
  return tf.transpose(stacked, [0, 3, 1, 2]) as tf.Tensor4D;
}
