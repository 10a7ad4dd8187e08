// Sums on webgpu (./axis-sum.ts, installed on the Sum kernel) ≡ tf.sum on cpu (the oracle): leading and middle runs,
// one and several axes, negative axes, keepDims, a summed axis of size 1, runs short (one invocation per output) and
// long (column sums in one and several row blocks), several runs, a short trailing run, full sums, a fused matMul's
// bias gradient and a head broadcast's gradient; a long sum over the last axis alone still goes to TF.js's kernel.
// WGSL only where an adapter exists (CI: lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { programsRun } from "../webgpu-programs.fixture.js";
import { normalizeAxes, sumPasses } from "./axis-sum.js";
import { broadcastSummingGradient } from "./layers.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

const CASES: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
  { shape: [64, 1], axis: 0, keepDims: false },
  { shape: [2100, 37], axis: 0, keepDims: true },
  { shape: [3, 700, 5], axis: [1, 0], keepDims: false },
  { shape: [25_600, 33], axis: -2, keepDims: false },
  { shape: [4, 9, 70, 3], axis: [0, 1, 2], keepDims: true },
  { shape: [1, 1, 1], axis: 1, keepDims: true },
  { shape: [2, 7, 3, 5], axis: 2, keepDims: true },
  { shape: [3, 5, 8, 33], axis: [1, 2], keepDims: false },
  { shape: [4, 130, 1, 6], axis: 2, keepDims: true },
  { shape: [2, 9, 70, 1, 3], axis: [1, 2], keepDims: true },
  { shape: [3, 9000, 7], axis: -2, keepDims: false },
  { shape: [5, 7, 9], axis: 2, keepDims: false },
  { shape: [6, 11, 4, 13], axis: [0, 1, 3], keepDims: false },
  { shape: [3, 4, 5], axis: [0, 2], keepDims: true },
  { shape: [32, 130, 70], axis: [0, 1, 2], keepDims: false },
  { shape: [9001], axis: 0, keepDims: true },
];

const values = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
};

// One program per sum: the partial sums (long runs; a second program adds the row blocks) or the short-run loop.
const axisSums = (keys: string[]) =>
  keys.filter((k) => k.startsWith("selectiv_axis_sum_partials") || k.startsWith("selectiv_axis_sum_short")).length;

function expectClose(got: Float32Array, want: Float32Array, name: string) {
  expect(got.length, `${name}: size`).toBe(want.length);
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  const worst = got.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j]!)), 0);
  // float32 sums of up to 1.1 M terms in another order than the cpu loop.
  expect(worst / scale, name).toBeLessThan(1e-5);
}

describe("sums over a run of axes on webgpu ≡ tf.sum on cpu", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("plans passes: runs leaving the last axis as column sums, the last axis last; a long trailing run stays with TF.js", () => {
    expect(sumPasses(normalizeAxes(0, 2), [4, 5])).toEqual([{ outer: 1, count: 4, inner: 5 }]);
    expect(sumPasses(normalizeAxes([1, 0], 3), [2, 3, 4])).toEqual([{ outer: 1, count: 6, inner: 4 }]);
    expect(sumPasses(normalizeAxes(-2, 2), [4, 5])).toEqual([{ outer: 1, count: 4, inner: 5 }]);
    expect(sumPasses(normalizeAxes(2, 4), [2, 3, 4, 5])).toEqual([{ outer: 6, count: 4, inner: 5 }]);
    expect(sumPasses(normalizeAxes(1, 2), [4, 5])).toEqual([{ outer: 4, count: 5, inner: 1 }]);
    expect(sumPasses(normalizeAxes(1, 2), [400, 500])).toBeUndefined();
    expect(sumPasses(normalizeAxes(1, 2), [4, 500])).toEqual([{ outer: 4, count: 500, inner: 1 }]);
    expect(sumPasses(normalizeAxes(0, 2), [64, 1])).toEqual([{ outer: 1, count: 64, inner: 1 }]);
    expect(sumPasses(normalizeAxes([0, 2], 3), [2, 3, 4])).toEqual([
      { outer: 1, count: 2, inner: 12 },
      { outer: 3, count: 4, inner: 1 },
    ]);
    expect(sumPasses(normalizeAxes(null, 3), [2, 3, 400])).toEqual([
      { outer: 1, count: 6, inner: 400 },
      { outer: 1, count: 400, inner: 1 },
    ]);
    expect(sumPasses(normalizeAxes([], 2), [2, 3])).toBeUndefined();
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
        expect(axisSums(keys)).toBe(sumPasses(normalizeAxes(axis, shape.length), shape)!.length);
        expect(result.shape).toEqual(want.shape);
        expectClose(result.values, want.values, name);
        assertBackendHealthy();
      },
      120_000,
    );
  });

  it.runIf(probe.ok)(
    "a trailing-axis sum stays with TF.js; a fused matMul's bias gradient is an axis sum",
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
      expect(axisSums(keys)).toBeGreaterThanOrEqual(1);
      expectClose(result, want, "bias gradient");
      const trailing = await programsRun(async () => {
        const y = tf.sum(tf.ones([rows, 700]), 1); // 300 outputs of 700 terms
        await y.data();
        y.dispose();
      });
      expect(axisSums(trailing.keys)).toBe(0);
      assertBackendHealthy();
    },
    120_000,
  );

  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: a head broadcast's gradient equals tf.tile's`, async () => {
      const [b, t, h, n] = [2, 11, 3, 7];
      const gradient = async (form: "tile" | "broadcast") => {
        const x = tf.tensor(values(b * t * n, 50), [b, t, 1, n]);
        const w = tf.sin(tf.range(0, b * t * h * n).reshape([b, t, h, n]));
        const g = tf.grad((input: tf.Tensor) =>
          tf.sum(tf.mul(form === "tile" ? tf.tile(input, [1, 1, h, 1]) : broadcastSummingGradient(input, [b, t, h, n]), w)),
        )(x);
        const data = (await g.data()) as Float32Array;
        tf.dispose([x, w, g]);
        return data;
      };
      await initBackend("cpu");
      const want = await gradient("tile");
      await initBackend(backend);
      const got = await gradient("broadcast");
      expect(got.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j]!)), 0)).toBeLessThan(1e-5);
    });
  }
});
