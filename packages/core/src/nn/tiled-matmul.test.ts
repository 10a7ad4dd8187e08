// The tiled product of ./tiled-matmul.ts ≡ the cpu backend's matMul (the oracle): run directly at awkward sizes (1 × 1,
// sizes off the 64 × 64 and 128 × 128 tiles and the 16-deep step, one slice and many, every transpose pair, with and
// without a bias), through tf.matMul and tf.fused.matMul where the route takes them, and as the gradients of a linear
// layer (x W: dW = xᵀ dy takes the long-inner route; with SELECTIV_MATMUL=all, the default, the forward and dx take the
// wide tiles).
// WGSL only where a WebGPU adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import type { WebgpuBackend } from "../kernel-registration.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { programsRun } from "../webgpu-programs.fixture.js";
import { type Block, type ProductShape, prefersLongInnerMatMul, runTiledMatMul, sliceCount, tiledMatMulPlan } from "./tiled-matmul.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case extends ProductShape {
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** 8: 128 × 128 tiles in one slice (the wide route), with a bias; else 64 × 64 tiles in sliceCount slices. */
  readonly block?: Block;
}

const DIRECT: Case[] = [
  { M: 1, N: 1, K: 1, transposeA: false, transposeB: false },
  { M: 3, N: 5, K: 7, transposeA: true, transposeB: false },
  { M: 70, N: 33, K: 600, transposeA: true, transposeB: false },
  { M: 65, N: 130, K: 2500, transposeA: false, transposeB: true },
  { M: 64, N: 64, K: 4096, transposeA: true, transposeB: true },
  { M: 257, N: 1, K: 5000, transposeA: false, transposeB: false },
  { M: 5, N: 129, K: 20_011, transposeA: true, transposeB: false },
  { M: 1, N: 1, K: 1, transposeA: false, transposeB: false, block: 8 },
  { M: 130, N: 257, K: 33, transposeA: false, transposeB: false, block: 8 },
  { M: 300, N: 129, K: 70, transposeA: true, transposeB: true, block: 8 },
  { M: 128, N: 128, K: 16, transposeA: false, transposeB: true, block: 8 },
  { M: 77, N: 390, K: 1000, transposeA: true, transposeB: false, block: 8 },
];

const label = (c: Case) =>
  c.block === 8
    ? `${c.M} × ${c.N}, K ${c.K}, 128 × 128 tiles with a bias, transposes ${c.transposeA}/${c.transposeB}`
    : `${c.M} × ${c.N}, K ${c.K}, ${sliceCount(c)} slices, transposes ${c.transposeA}/${c.transposeB}`;

function operands(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return {
    a: { values: normal(c.M * c.K), shape: c.transposeA ? [c.K, c.M] : [c.M, c.K] },
    b: { values: normal(c.K * c.N), shape: c.transposeB ? [c.N, c.K] : [c.K, c.N] },
    bias: normal(c.N),
  };
}

type Operands = ReturnType<typeof operands>;

async function product(c: Case, o: Operands, direct: boolean): Promise<Float32Array> {
  const a = tf.tensor2d(o.a.values, o.a.shape as [number, number]);
  const b = tf.tensor2d(o.b.values, o.b.shape as [number, number]);
  const bias = tf.tensor1d(o.bias);
  const wide = c.block === 8;
  const y = direct
    ? tf
        .engine()
        .makeTensorFromTensorInfo(
          runTiledMatMul(
            tf.backend() as unknown as WebgpuBackend,
            a,
            b,
            c,
            c.transposeA,
            c.transposeB,
            [c.M, c.N],
            wide ? { block: 8, slices: 1 } : undefined,
            wide ? bias : undefined,
          ),
        )
    : wide
      ? tf.fused.matMul({ a, b, transposeA: c.transposeA, transposeB: c.transposeB, bias })
      : tf.matMul(a, b, c.transposeA, c.transposeB);
  const values = (await y.data()) as Float32Array;
  tf.dispose([a, b, bias, y]);
  return values;
}

const ROUTED = (keys: string[], block: Block = 4) =>
  keys.filter((k) => new RegExp(`^selectiv_tiled_matmul_(true|false)_(true|false)_${block}`).test(k)).length;

function expectClose(got: Float32Array, want: Float32Array, name: string, tolerance = 1e-5) {
  expect(got.length, `${name}: size`).toBe(want.length);
  let scale = 1;
  let worst = 0;
  for (let j = 0; j < want.length; j++) {
    scale = Math.max(scale, Math.abs(want[j]!));
    worst = Math.max(worst, Math.abs(got[j]! - want[j]!));
  }
  expect(worst / scale, name).toBeLessThan(tolerance);
}

describe("tiled matMul on webgpu ≡ the cpu matMul", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("takes the paper shape's weight gradients and TF.js's split-K cases, and leaves the rest to TF.js", () => {
    expect(prefersLongInnerMatMul({ M: 256, N: 256, K: 25_600 })).toBe(true);
    expect(prefersLongInnerMatMul({ M: 256, N: 1601, K: 25_600 })).toBe(true);
    // Quick shape: 64 × 64 is TF.js's split-K case (4 tiles); 64 × 145 (10 tiles) its packed program; 64 × 2 its reduction.
    expect(prefersLongInnerMatMul({ M: 64, N: 64, K: 4096 })).toBe(true);
    expect(prefersLongInnerMatMul({ M: 64, N: 145, K: 4096 })).toBe(false);
    expect(prefersLongInnerMatMul({ M: 64, N: 2, K: 4096 })).toBe(false);
    expect(prefersLongInnerMatMul({ M: 25_600, N: 256, K: 256 })).toBe(false);
    expect(prefersLongInnerMatMul({ M: 25_600, N: 256, K: 1601 })).toBe(false);
    expect(prefersLongInnerMatMul({ M: 256, N: 256, K: 25_600 }, { SELECTIV_MATMUL: "tf" })).toBe(false);
    expect(sliceCount({ M: 256, N: 256, K: 25_600 })).toBe(32);
    expect(sliceCount({ M: 3, N: 5, K: 7 })).toBe(1);
    // The wide tiles by default (SELECTIV_MATMUL=all) where a product has ≥ 256 tiles of 128 × 128; not under
    // SELECTIV_MATMUL=long-inner.
    expect(tiledMatMulPlan({ M: 25_600, N: 256, K: 256 }, {})).toEqual({ block: 8, slices: 1 });
    expect(tiledMatMulPlan({ M: 25_600, N: 256, K: 256 }, { SELECTIV_MATMUL: "long-inner" })).toBeUndefined();
    expect(tiledMatMulPlan({ M: 25_600, N: 256, K: 256 }, { SELECTIV_MATMUL: "all" })).toEqual({ block: 8, slices: 1 });
    expect(tiledMatMulPlan({ M: 4096, N: 64, K: 64 }, { SELECTIV_MATMUL: "all" })).toBeUndefined();
    expect(tiledMatMulPlan({ M: 256, N: 256, K: 25_600 }, { SELECTIV_MATMUL: "all" })).toEqual({ block: 4, slices: 32 });
    expect(tiledMatMulPlan({ M: 256, N: 256, K: 25_600 }, { SELECTIV_MATMUL: "tf" })).toBeUndefined();
    expect(() => tiledMatMulPlan({ M: 8, N: 8, K: 8 }, { SELECTIV_MATMUL: "wide" })).toThrow(
      /^SELECTIV_MATMUL="wide": expected tf, long-inner, all or unset/,
    );
  });

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  DIRECT.forEach((c, i) => {
    it.runIf(probe.ok)(
      `direct: ${label(c)}`,
      async () => {
        const o = operands(c, 70 + i);
        await initBackend("cpu");
        const want = await product(c, o, false);
        await initBackend("webgpu");
        expectClose(await product(c, o, true), want, label(c));
        assertBackendHealthy();
      },
      120_000,
    );
  });

  it.runIf(probe.ok)(
    "tf.matMul routes a long product here and gives the oracle's values",
    async () => {
      const c: Case = { M: 37, N: 19, K: 8200, transposeA: true, transposeB: false };
      expect(prefersLongInnerMatMul(c)).toBe(true);
      const o = operands(c, 90);
      await initBackend("cpu");
      const want = await product(c, o, false);
      await initBackend("webgpu");
      const { result, keys } = await programsRun(() => product(c, o, false));
      expect(ROUTED(keys)).toBe(1);
      expectClose(result, want, label(c));
      assertBackendHealthy();
    },
    120_000,
  );

  it.runIf(probe.ok)(
    "a linear layer's gradients (dW through the route, dx through TF.js) equal the cpu's",
    async () => {
      const [rows, inputs, outputs] = [8200, 37, 19];
      const rng = new Rng(91);
      const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
      const [xv, wv] = [normal(rows * inputs), normal(inputs * outputs)];
      const gradients = async () => {
        const [x, w] = [tf.tensor2d(xv, [rows, inputs]), tf.tensor2d(wv, [inputs, outputs])];
        const weights = tf.sin(tf.range(0, rows * outputs).reshape([rows, outputs]));
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), weights)))([
          x,
          w,
        ]);
        const values = [(await dx!.data()) as Float32Array, (await dw!.data()) as Float32Array];
        tf.dispose([x, w, weights, dx!, dw!]);
        return values;
      };
      await initBackend("cpu");
      const want = await gradients();
      await initBackend("webgpu");
      const { result: got, keys } = await programsRun(gradients);
      // dW = xᵀ dy (K = 8,200 rows); the forward and dx = dy Wᵀ (K = 19 and 37) stay with TF.js.
      expect(ROUTED(keys)).toBe(1);
      expectClose(got[0]!, want[0]!, "dx");
      expectClose(got[1]!, want[1]!, "dW");
      assertBackendHealthy();
    },
    120_000,
  );

  it.runIf(probe.ok)(
    "SELECTIV_MATMUL=all: a biased linear layer's forward takes the wide tiles, dW the long-inner route, all equal to the cpu's",
    async () => {
      // 8,200 × 520 outputs forward (65 × 5 = 325 wide tiles, ≥ 256); dx (8,200 × 16) stays with TF.js.
      const [rows, inputs, outputs] = [8200, 16, 520];
      const rng = new Rng(92);
      const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
      const [xv, wv, bv] = [normal(rows * inputs), normal(inputs * outputs), normal(outputs)];
      const run = async () => {
        const [x, w, b] = [tf.tensor2d(xv, [rows, inputs]), tf.tensor2d(wv, [inputs, outputs]), tf.tensor1d(bv)];
        const weights = tf.sin(tf.range(0, rows * outputs).reshape([rows, outputs]));
        const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
          tf.fused.matMul({ a: xi as tf.Tensor2D, b: wi as tf.Tensor2D, bias: bi });
        const y = f(x, w, b);
        const grads = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(f(xi, wi, bi), weights)))([x, w, b]);
        const values = await Promise.all([y, ...grads].map((t) => t.data() as Promise<Float32Array>));
        tf.dispose([x, w, b, weights, y, ...grads]);
        return values;
      };
      await initBackend("cpu");
      const want = await run();
      await initBackend("webgpu");
      const before = process.env.SELECTIV_MATMUL;
      process.env.SELECTIV_MATMUL = "all";
      try {
        const { result: got, keys } = await programsRun(run);
        // Forward twice (y, and inside tf.grads); dW on the long-inner route.
        expect(ROUTED(keys, 8)).toBe(2);
        expect(ROUTED(keys, 4)).toBe(1);
        // d bias sums 8,200 rows: float32 sums in another order.
        ["y", "dx", "dW", "d bias"].forEach((name, i) => expectClose(got[i]!, want[i]!, name, i === 3 ? 1e-4 : 1e-5));
      } finally {
        if (before === undefined) delete process.env.SELECTIV_MATMUL;
        else process.env.SELECTIV_MATMUL = before;
      }
      assertBackendHealthy();
    },
    240_000,
  );
});
