// The middle-axis sum (./middle-sum-kernel.ts) ≡ tf.sum on cpu (the oracle): awkward sizes, one and several summed
// axes, a summed axis of size 1; on cpu and wasm everywhere and on webgpu where an adapter exists (CI: lavapipe).
// Also: broadcastSummingGradient's gradient through it equals tf.tile's.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { broadcastSummingGradient } from "./layers.js";
import { middleSumKernel } from "./middle-sum-kernel.js";

const probe = await probeWebgpu();

const CASES: { shape: number[]; axes: number[] }[] = [
  { shape: [1, 1, 1], axes: [1] },
  { shape: [2, 7, 3, 5], axes: [2] },
  { shape: [3, 5, 8, 33], axes: [1, 2] },
  { shape: [4, 130, 1, 6], axes: [2] },
  { shape: [2, 9, 70, 1, 3], axes: [1, 2] },
];

const values = (shape: number[], seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
};

describe("middle-axis sum kernel ≡ tf.sum", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("takes only a contiguous run of axes before the last", () => {
    const x = tf.zeros([2, 3, 4, 5]);
    expect(middleSumKernel(x, [3])).toBeUndefined();
    expect(middleSumKernel(x, [1, 3])).toBeUndefined();
    expect(middleSumKernel(x, [2, 3])).toBeUndefined();
    x.dispose();
  });

  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    CASES.forEach(({ shape, axes }, i) => {
      it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: [${shape.join(", ")}] over axes ${axes.join(", ")}`, async () => {
        await initBackend("cpu");
        const want = (await tf.sum(tf.tensor(values(shape, 30 + i), shape), axes, true).data()) as Float32Array;
        await initBackend(backend);
        const x = tf.tensor(values(shape, 30 + i), shape);
        const got = middleSumKernel(x, axes)!;
        expect(got.shape).toEqual(shape.map((n, a) => (axes.includes(a) ? 1 : n)));
        const data = (await got.data()) as Float32Array;
        // Relative to the largest sum: sums of up to 630 terms round differently in another order.
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        const worst = data.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j]!)), 0);
        expect(worst / scale).toBeLessThan(1e-6);
        tf.dispose([x, got]);
        assertBackendHealthy();
      });
    });

    it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: a head broadcast's gradient equals tf.tile's`, async () => {
      const [b, t, h, n] = [2, 11, 3, 7];
      const gradient = async (form: "tile" | "broadcast") => {
        const x = tf.tensor(values([b, t, 1, n], 50), [b, t, 1, n]);
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
