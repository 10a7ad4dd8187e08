import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.js";
import { tf } from "../tf.js";
import { matMul2d } from "./layers.js";

/** Plain triple loops: [n, k] × [k, m]. */
function product(a: Float32Array, b: Float32Array, n: number, k: number, m: number, transA = false, transB = false): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * n + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * m + j]!);
      out[i * m + j] = s;
    }
  return out;
}

describe("matMul2d on wasm (explicit-transpose gradient)", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it.each([
    [1, 1, 1],
    [3, 5, 2],
    [17, 33, 9],
    [64, 41, 256],
  ])("value and gradients equal plain loops at %i×%i · %i×%i", (n, k, m) => {
    expect(tf.getBackend()).toBe("wasm");
    const a = tf.randomNormal([n, k], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([k, m], 0, 1, "float32", 2) as tf.Tensor2D;
    const c = tf.randomNormal([n, m], 0, 1, "float32", 3) as tf.Tensor2D;
    const [av, bv, cv] = [a, b, c].map((t) => t.dataSync() as Float32Array) as [Float32Array, Float32Array, Float32Array];
    const value = matMul2d(a, b).dataSync();
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), c)))([a, b]);
    const close = (got: ArrayLike<number>, want: Float32Array): void => {
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
      expect(worst).toBeLessThan(1e-4);
    };
    close(value, product(av, bv, n, k, m));
    close(da!.dataSync(), product(cv, bv, n, m, k, false, true)); // ∂/∂a = c bᵀ
    close(db!.dataSync(), product(av, cv, k, n, m, true, false)); // ∂/∂b = aᵀ c
  });
});
