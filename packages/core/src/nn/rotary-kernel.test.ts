// RoPE as a registered kernel (./rotary-kernel.ts) ≡ its TF-op form (./rotary.ts, what cpu and wasm train with):
// values and ∂/∂x at awkward sizes, both signs, on cpu and wasm everywhere and on webgpu where an adapter exists
// (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { withRegisteredKernels } from "../kernel-choice.fixture.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { Rotary } from "./rotary.js";

const probe = await probeWebgpu();
// [..., T, D]: one step, the smallest head, an odd number of pairs, long sequences, rank 3 and 4.
const SHAPES = [
  [1, 1, 2],
  [2, 3, 5, 6],
  [1, 130, 66],
  [3, 2, 400, 8],
];

async function run(shape: number[], sign: 1 | -1, seed: number) {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal()),
    shape,
  );
  const w = tf.cos(tf.range(0, size).reshape(shape));
  const rotary = new Rotary("test", shape[shape.length - 1]!, 10_000, sign);
  const y = rotary.applySequence(x);
  const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(rotary.applySequence(input), w)))(x);
  const out = [await y.data(), await g.data()] as Float32Array[];
  tf.dispose([x, w, y, g]);
  return out;
}

/** Time before heads: applySequenceByTime on x [B, T, H, D], read back as [B, H, T, D] to compare with applySequence. */
async function runByTime(shape: number[], sign: 1 | -1, seed: number) {
  const [b, h, t, d] = shape as [number, number, number, number];
  const rng = new Rng(seed);
  const size = b * h * t * d;
  const x = tf.transpose(
    tf.tensor(
      Float32Array.from({ length: size }, () => rng.normal()),
      shape,
    ),
    [0, 2, 1, 3],
  ) as tf.Tensor4D;
  const w = tf.transpose(tf.cos(tf.range(0, size).reshape(shape)), [0, 2, 1, 3]);
  const rotary = new Rotary("test", d, 10_000, sign);
  const swap = (y: tf.Tensor) => tf.transpose(y, [0, 2, 1, 3]);
  const y = swap(rotary.applySequenceByTime(x));
  const g = swap(tf.grad((input: tf.Tensor) => tf.sum(tf.mul(rotary.applySequenceByTime(input as tf.Tensor4D), w)))(x));
  const out = [await y.data(), await g.data()] as Float32Array[];
  tf.dispose([x, w, y, g]);
  return out;
}

describe("rotary kernel ≡ the TF-op form (values and ∂/∂x)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    for (const sign of [1, -1] as const) {
      SHAPES.forEach((shape, i) => {
        it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: sign ${sign} [${shape.join(", ")}]`, async () => {
          await initBackend("cpu");
          const want = await run(shape, sign, 60 + i);
          const got = await withRegisteredKernels(backend, () => run(shape, sign, 60 + i));
          ["y", "dx"].forEach((name, part) => {
            expect(got[part]!.length).toBe(want[part]!.length);
            const worst = got[part]!.reduce((m, v, j) => Math.max(m, Math.abs(v - want[part]![j]!)), 0);
            expect(worst, `${name}: largest difference`).toBeLessThanOrEqual(2e-5);
          });
          assertBackendHealthy();
        });
      });
      // Time before heads, as the Transformer feeds it: several heads, one head, a long sequence.
      [SHAPES[1]!, [1, 1, 130, 66], SHAPES[3]!].forEach((shape, i) => {
        it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: sign ${sign} [${shape.join(", ")}], time before heads`, async () => {
          await initBackend("cpu");
          const want = await run(shape, sign, 80 + i);
          // The TF-op form (what cpu and wasm train with) gives applySequence's numbers on the same backend, exactly.
          if (backend !== "webgpu") {
            await initBackend(backend);
            const [same, got] = [await run(shape, sign, 80 + i), await runByTime(shape, sign, 80 + i)];
            expect(Array.from(got[0]!), "ops, y").toEqual(Array.from(same[0]!));
            expect(Array.from(got[1]!), "ops, dx").toEqual(Array.from(same[1]!));
          }
          const got = await withRegisteredKernels(backend, () => runByTime(shape, sign, 80 + i));
          ["y", "dx"].forEach((name, part) => {
            const worst = got[part]!.reduce((m, v, j) => Math.max(m, Math.abs(v - want[part]![j]!)), 0);
            expect(worst, `kernel, ${name}: largest difference`).toBeLessThanOrEqual(2e-5);
          });
          assertBackendHealthy();
        });
      });
    }
  }
});
