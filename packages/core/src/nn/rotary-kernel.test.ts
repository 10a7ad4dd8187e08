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
    }
  }
});
