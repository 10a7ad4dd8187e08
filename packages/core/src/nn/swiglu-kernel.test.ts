// The Transformer's gated activation a ⊙ σ(β a) ⊙ b as registered kernels (./swiglu-kernel.ts) ≡ its TF-op form (what
// cpu and wasm train with): values and the gradients of a, b and β at awkward sizes and large |β a|, on cpu and wasm
// everywhere and on webgpu where an adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { withRegisteredKernels } from "../kernel-choice.fixture.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { swishGate, swishGatePacked } from "./layers.js";

const probe = await probeWebgpu();
const SHAPES = [[1], [7], [3, 5, 257]];
const BETAS = [1, -0.7, 30];

async function run(shape: number[], beta: number, seed: number) {
  const rng = new Rng(seed);
  const size = shape.reduce((p, q) => p * q, 1);
  const a = tf.tensor(
    Float32Array.from({ length: size }, () => 3 * rng.normal()),
    shape,
  );
  const b = tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal()),
    shape,
  );
  const betaT = tf.tensor1d([beta]);
  const w = tf.cos(tf.range(0, size).reshape(shape));
  const y = swishGate(a, b, betaT);
  const grads = tf.grads((x: tf.Tensor, z: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(swishGate(x, z, c), w)))([a, b, betaT]);
  const out = (await Promise.all([y, ...grads].map((t) => t.data()))) as Float32Array[];
  tf.dispose([a, b, betaT, w, y, ...grads]);
  return out;
}

describe("SwiGLU-β kernels ≡ the TF-op form (values and the gradients of a, b, β)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    for (const beta of BETAS) {
      SHAPES.forEach((shape, i) => {
        it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: β = ${beta}, [${shape.join(", ")}]`, async () => {
          await initBackend("cpu");
          const want = await run(shape, beta, 80 + i);
          const got = await withRegisteredKernels(backend, () => run(shape, beta, 80 + i));
          ["f", "da", "db", "dβ"].forEach((name, part) => {
            const scale = want[part]!.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
            const worst = got[part]!.reduce((m, v, j) => Math.max(m, Math.abs(v - want[part]![j]!)), 0);
            expect(got[part]!.every(Number.isFinite), `${name} finite`).toBe(true);
            expect(worst / scale, `${name}: largest difference, relative to the largest value`).toBeLessThanOrEqual(1e-5);
          });
          assertBackendHealthy();
        });
      });
    }
  }
});

/** f and the gradients of ab and β for the packed form: ab [.., 2F] holds a then b along its last axis. */
async function runPacked(shape: number[], beta: number, seed: number) {
  const rng = new Rng(seed);
  const size = shape.reduce((p, q) => p * q, 1);
  const ab = tf.tensor(
    Float32Array.from({ length: size }, (_, i) => (Math.floor(i / (shape.at(-1)! / 2)) % 2 === 0 ? 3 : 1) * rng.normal()),
    shape,
  );
  const betaT = tf.tensor1d([beta]);
  const fShape = [...shape.slice(0, -1), shape.at(-1)! / 2];
  const w = tf.cos(tf.range(0, size / 2).reshape(fShape));
  const y = swishGatePacked(ab, betaT);
  const grads = tf.grads((x: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(swishGatePacked(x, c), w)))([ab, betaT]);
  const out = (await Promise.all([y, ...grads].map((t) => t.data()))) as Float32Array[];
  tf.dispose([ab, betaT, w, y, ...grads]);
  return out;
}

describe("SwiGLU-β on a packed [a | b] ≡ the split TF-op form (values and the gradients of ab, β)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  const PACKED = [
    [1, 2],
    [7, 14],
    [3, 5, 514],
  ];
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    PACKED.forEach((shape, i) => {
      it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: β = 1.3, [${shape.join(", ")}]`, async () => {
        await initBackend("cpu");
        const want = await runPacked(shape, 1.3, 90 + i);
        const got = await withRegisteredKernels(backend, () => runPacked(shape, 1.3, 90 + i));
        ["f", "dab", "dβ"].forEach((name, part) => {
          const scale = want[part]!.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
          const worst = got[part]!.reduce((m, v, j) => Math.max(m, Math.abs(v - want[part]![j]!)), 0);
          expect(got[part]!.length, `${name} size`).toBe(want[part]!.length);
          expect(worst / scale, `${name}: largest difference, relative to the largest value`).toBeLessThanOrEqual(1e-5);
        });
        assertBackendHealthy();
      });
    });
  }
});
