// Sums over leading axes on webgpu (./column-sum.ts, installed on the Sum kernel) ≡ tf.sum on cpu (the oracle):
// one and several leading axes, negative axes, keepDims, row counts that take one and several row blocks, and a
// fused matMul's bias gradient; other sums still go to TF.js's kernel. WGSL only where an adapter exists (CI: lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { programsRun } from "../webgpu-programs.fixture.js";
import { leadingAxes } from "./column-sum.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

const CASES: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
  { shape: [64, 1], axis: 0, keepDims: false },
  { shape: [2100, 37], axis: 0, keepDims: true },
  { shape: [3, 700, 5], axis: [1, 0], keepDims: false },
  { shape: [25_600, 33], axis: -2, keepDims: false },
  { shape: [4, 9, 70, 3], axis: [0, 1, 2], keepDims: true },
];

const values = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
};

const columnSums = (keys: string[]) => keys.filter((k) => k.startsWith("selectiv_column_sum_partials")).length;

function expectClose(got: Float32Array, want: Float32Array, name: string) {
  expect(got.length, `${name}: size`).toBe(want.length);
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  const worst = got.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j]!)), 0);
  expect(worst / scale, name).toBeLessThan(1e-6);
}

describe("sums over leading axes on webgpu ≡ tf.sum on cpu", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("recognises a leading run of axes only", () => {
    expect(leadingAxes(0, 2)).toBe(1);
    expect(leadingAxes([1, 0], 3)).toBe(2);
    expect(leadingAxes(-2, 2)).toBe(1);
    expect(leadingAxes(1, 2)).toBeUndefined();
    expect(leadingAxes([0, 2], 3)).toBeUndefined();
    expect(leadingAxes([0, 1], 2)).toBeUndefined();
  });

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  CASES.forEach(({ shape, axis, keepDims }, i) => {
    const name = `[${shape.join(", ")}] over ${JSON.stringify(axis)}${keepDims ? ", keepDims" : ""}`;
    it.runIf(probe.ok)(
      name,
      async () => {
        const data = values(
          shape.reduce((a, b) => a * b, 1),
          20 + i,
        );
        const sum = async () => {
          const x = tf.tensor(data, shape);
          const y = tf.sum(x, axis, keepDims);
          const out = { shape: y.shape, values: (await y.data()) as Float32Array };
          tf.dispose([x, y]);
          return out;
        };
        await initBackend("cpu");
        const want = await sum();
        await initBackend("webgpu");
        const { result, keys } = await programsRun(sum);
        expect(columnSums(keys)).toBe(1);
        expect(result.shape).toEqual(want.shape);
        expectClose(result.values, want.values, name);
        assertBackendHealthy();
      },
      120_000,
    );
  });

  it.runIf(probe.ok)(
    "a trailing-axis sum stays with TF.js; a fused matMul's bias gradient is a column sum",
    async () => {
      const [rows, inputs, outputs] = [300, 7, 5];
      const [xv, wv, bv] = [values(rows * inputs, 30), values(inputs * outputs, 31), values(outputs, 32)];
      const gradients = async () => {
        const [x, w, b] = [tf.tensor2d(xv, [rows, inputs]), tf.tensor2d(wv, [inputs, outputs]), tf.tensor1d(bv)];
        const weights = tf.sin(tf.range(0, rows * outputs).reshape([rows, outputs]));
        const db = tf.grad((bias: tf.Tensor) => tf.sum(tf.mul(tf.fused.matMul({ a: x, b: w, bias: bias as tf.Tensor1D }), weights)))(b);
        const values = (await db.data()) as Float32Array;
        tf.dispose([x, w, b, weights, db]);
        return values;
      };
      await initBackend("cpu");
      const want = await gradients();
      await initBackend("webgpu");
      const { result, keys } = await programsRun(gradients);
      expect(columnSums(keys)).toBeGreaterThanOrEqual(1);
      expectClose(result, want, "bias gradient");
      const trailing = await programsRun(async () => {
        const y = tf.sum(tf.ones([rows, inputs]), 1);
        await y.data();
        y.dispose();
      });
      expect(columnSums(trailing.keys)).toBe(0);
      assertBackendHealthy();
    },
    120_000,
  );
});
