// The long-inner-dimension product of ./long-inner-matmul.ts ≡ the cpu backend's matMul (the oracle): run directly
// at awkward sizes (1 × 1, sizes off the 64 × 64 tile and the 16-deep step, one slice and many, every transpose
// pair), through tf.matMul where the route takes it, and as the gradients of a linear layer (x W: dW = xᵀ dy takes
// the route, dx does not). WGSL only where a WebGPU adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import type { WebgpuBackend } from "../kernel-registration.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { programsRun } from "../webgpu-programs.fixture.js";
import { type LongInnerShape, prefersLongInnerMatMul, runLongInnerMatMul, sliceCount } from "./long-inner-matmul.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case extends LongInnerShape {
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

const DIRECT: Case[] = [
  { M: 1, N: 1, K: 1, transposeA: false, transposeB: false },
  { M: 3, N: 5, K: 7, transposeA: true, transposeB: false },
  { M: 70, N: 33, K: 600, transposeA: true, transposeB: false },
  { M: 65, N: 130, K: 2500, transposeA: false, transposeB: true },
  { M: 64, N: 64, K: 4096, transposeA: true, transposeB: true },
  { M: 257, N: 1, K: 5000, transposeA: false, transposeB: false },
  { M: 5, N: 129, K: 20_011, transposeA: true, transposeB: false },
];

const label = (c: Case) => `${c.M} × ${c.N}, K ${c.K}, ${sliceCount(c)} slices, transposes ${c.transposeA}/${c.transposeB}`;

function operands(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return {
    a: { values: normal(c.M * c.K), shape: c.transposeA ? [c.K, c.M] : [c.M, c.K] },
    b: { values: normal(c.K * c.N), shape: c.transposeB ? [c.N, c.K] : [c.K, c.N] },
  };
}

type Operands = ReturnType<typeof operands>;

async function product(c: Case, o: Operands, direct: boolean): Promise<Float32Array> {
  const a = tf.tensor2d(o.a.values, o.a.shape as [number, number]);
  const b = tf.tensor2d(o.b.values, o.b.shape as [number, number]);
  const y = direct
    ? tf
        .engine()
        .makeTensorFromTensorInfo(
          runLongInnerMatMul(tf.backend() as unknown as WebgpuBackend, a, b, c, c.transposeA, c.transposeB, [c.M, c.N]),
        )
    : tf.matMul(a, b, c.transposeA, c.transposeB);
  const values = (await y.data()) as Float32Array;
  tf.dispose([a, b, y]);
  return values;
}

const ROUTED = (keys: string[]) => keys.filter((k) => /^selectiv_long_inner_matmul_(true|false)_/.test(k)).length;

function expectClose(got: Float32Array, want: Float32Array, name: string) {
  expect(got.length, `${name}: size`).toBe(want.length);
  let scale = 1;
  let worst = 0;
  for (let j = 0; j < want.length; j++) {
    scale = Math.max(scale, Math.abs(want[j]!));
    worst = Math.max(worst, Math.abs(got[j]! - want[j]!));
  }
  expect(worst / scale, name).toBeLessThan(1e-5);
}

describe("long-inner-dimension matMul on webgpu ≡ the cpu matMul", () => {
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
});
