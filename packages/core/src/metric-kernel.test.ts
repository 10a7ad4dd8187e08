// The masked cross-entropy's registered kernels (./metric-kernel.ts) ≡ its TF-op form (maskedCrossEntropySumOps,
// what cpu and wasm train with): the sum and its gradient in the logits, with masked rows, two classes, 1,601 classes
// and extreme logits; cpu and wasm everywhere, webgpu where an adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "./backend.js";
import { maskedCrossEntropySumOps } from "./metric.js";
import { maskedCrossEntropySumKernel } from "./metric-kernel.js";
import { Rng } from "./rng.js";
import { tf } from "./tf.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

// [B, T, C, logit scale]
const CASES = [
  [1, 1, 2, 1],
  [2, 7, 5, 1],
  [3, 13, 145, 3],
  [2, 5, 1601, 1],
  [1, 9, 17, 40],
] as const;

function draw(i: number) {
  const [b, t, c, scale] = CASES[i]!;
  const rng = new Rng(90 + i);
  return {
    logits: Float32Array.from({ length: b * t * c }, () => scale * rng.normal()),
    targets: Int32Array.from({ length: b * t }, () => Math.floor(rng.uniform() * c)),
    // Some rows masked out (the first row always counts).
    mask: Float32Array.from({ length: b * t }, (_, k) => (k === 0 || rng.uniform() > 0.3 ? 1 : 0)),
  };
}

async function evaluate(i: number, form: "ops" | "kernel"): Promise<Float32Array[]> {
  const [b, t, c] = CASES[i]!;
  const d = draw(i);
  const results = tf.tidy(() => {
    const logits = tf.tensor3d(d.logits, [b, t, c]);
    const targets = tf.tensor2d(d.targets, [b, t], "int32");
    const mask = tf.tensor2d(d.mask, [b, t]);
    const f = (z: tf.Tensor) => (form === "ops" ? maskedCrossEntropySumOps : maskedCrossEntropySumKernel)(z as tf.Tensor3D, targets, mask);
    // A weight on the sum, so that the gradient's scale is checked too.
    return [f(logits), tf.grad((z: tf.Tensor) => tf.mul(f(z), 0.37))(logits)];
  });
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

const oracles = new Map<number, Float32Array[]>();
async function oracle(i: number) {
  if (!oracles.has(i)) {
    await initBackend("cpu");
    oracles.set(i, await evaluate(i, "ops"));
  }
  return oracles.get(i)!;
}

function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  ["loss", "d logits"].forEach((part, k) => {
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < want[k]!.length; j++) {
      scale = Math.max(scale, Math.abs(want[k]![j]!));
      worst = Math.max(worst, Math.abs(got[k]![j]! - want[k]![j]!));
    }
    expect(worst / scale, `${name}: ${part}`).toBeLessThan(1e-5);
  });
}

const label = (i: number) => `B=${CASES[i]![0]}, T=${CASES[i]![1]}, C=${CASES[i]![2]}, logits × ${CASES[i]![3]}`;

describe("masked cross-entropy: registered kernels ≡ the TF-op form (sum and gradient)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  for (const backend of ["cpu", "wasm"] as const) {
    CASES.forEach((_, i) => {
      it(`${backend} kernels: ${label(i)}`, async () => {
        const want = await oracle(i);
        await initBackend(backend);
        expectClose(await evaluate(i, "kernel"), want, label(i));
      });
    });
  }
  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });
  CASES.forEach((_, i) => {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernels: ${label(i)}`,
      async () => {
        const want = await oracle(i);
        await initBackend("webgpu");
        expectClose(await evaluate(i, "kernel"), want, label(i));
        assertBackendHealthy();
      },
      120_000,
    );
  });
});
