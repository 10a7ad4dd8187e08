// repeatAlongNewAxis1 (./layers.ts): the same values as tf.tile, and the same gradient, whether it takes tf.tile's
// gradient (cpu, wasm) or its one-sum gradient (registered kernels: webgpu, or SELECTIV_KERNELS=registered), at
// ranks 2–4 and awkward repeat counts.
import { afterAll, describe, expect, it } from "vitest";
import { initBackend, probeWebgpu } from "../backend.js";
import { withRegisteredKernels } from "../kernel-choice.fixture.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { broadcastSummingGradient, repeatAlongNewAxis1 } from "./layers.js";

const probe = await probeWebgpu();
const CASES: { shape: number[]; times: number }[] = [
  { shape: [3, 5], times: 1 },
  { shape: [2, 7, 3], times: 16 },
  { shape: [1, 9, 5], times: 3 },
];

/** y = repeat(x) and ∂/∂x Σ y ⊙ w for a fixed w, by `form`. */
async function run(shape: number[], times: number, form: "tile" | "repeat") {
  const rng = new Rng(5 + times);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal()),
    shape,
  );
  const outShape = [shape[0]!, times, ...shape.slice(1)];
  const w = tf.tensor(
    Float32Array.from({ length: size * times }, () => rng.normal()),
    outShape,
  );
  const f = (input: tf.Tensor) =>
    form === "tile" ? tf.tile(tf.expandDims(input, 1), [1, times, ...shape.slice(1).map(() => 1)]) : repeatAlongNewAxis1(input, times);
  const y = f(x);
  const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), w)))(x);
  const out = { y: Array.from(await y.data()), g: Array.from(await g.data()), shape: y.shape };
  tf.dispose([x, w, y, g]);
  return out;
}

describe("repeatAlongNewAxis1 ≡ tf.tile along a new axis 1 (values and gradient)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const mode of ["cpu", "cpu, registered", "webgpu"] as const) {
    for (const c of CASES) {
      it.runIf(mode !== "webgpu" || probe.ok)(`${mode}: [${c.shape.join(", ")}] × ${c.times}`, async () => {
        await initBackend("cpu");
        const want = await run(c.shape, c.times, "tile");
        if (mode === "cpu") await initBackend("cpu");
        const repeat = () => run(c.shape, c.times, "repeat");
        const got = mode === "cpu" ? await repeat() : await withRegisteredKernels(mode === "webgpu" ? "webgpu" : "cpu", repeat);
        expect(got.shape).toEqual(want.shape);
        expect(got.y).toEqual(want.y);
        got.g.forEach((v, i) => expect(Math.abs(v - want.g[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want.g[i]!))));
      });
    }
  }
});

describe("broadcastSummingGradient ≡ tf.broadcastTo (values and gradient)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  const BROADCASTS: { from: number[]; to: number[] }[] = [
    { from: [2, 3, 1], to: [2, 3, 16] },
    { from: [2, 1, 5, 3], to: [2, 7, 5, 3] },
    { from: [1, 4, 1], to: [3, 4, 5] },
    { from: [2, 3], to: [2, 3] },
  ];
  for (const backend of ["cpu", "webgpu"] as const) {
    for (const c of BROADCASTS) {
      it.runIf(backend === "cpu" || probe.ok)(`${backend}: [${c.from.join(", ")}] → [${c.to.join(", ")}]`, async () => {
        const rng = new Rng(c.to.length);
        const xs = Float32Array.from({ length: c.from.reduce((a, b) => a * b, 1) }, () => rng.normal());
        const ws = Float32Array.from({ length: c.to.reduce((a, b) => a * b, 1) }, () => rng.normal());
        const both = async (f: (x: tf.Tensor) => tf.Tensor) => {
          const x = tf.tensor(xs, c.from);
          const w = tf.tensor(ws, c.to);
          const y = f(x);
          const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), w)))(x);
          const out = { y: Array.from(await y.data()), g: Array.from(await g.data()), shape: g.shape };
          tf.dispose([x, w, y, g]);
          return out;
        };
        await initBackend("cpu");
        const want = await both((x) => tf.broadcastTo(x, c.to));
        await initBackend(backend);
        const got = await both((x) => broadcastSummingGradient(x, c.to));
        expect(got.y).toEqual(want.y);
        expect(got.shape).toEqual(c.from);
        got.g.forEach((v, i) => expect(Math.abs(v - want.g[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want.g[i]!))));
      });
    }
  }
});
