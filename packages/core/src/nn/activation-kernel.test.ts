// SiLU and log σ as registered kernels (./activation-kernel.ts) ≡ their TF-op forms (what cpu and wasm train with):
// values and ∂/∂x at awkward sizes and at large |x| (e^{−x} overflows float32 past 88), on cpu and wasm everywhere
// and on webgpu where an adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { withRegisteredKernels } from "../kernel-choice.fixture.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { logSigmoid, silu } from "./layers.js";

const probe = await probeWebgpu();
const SHAPES = [[1], [7], [3, 5, 257]];
const EXTREMES = [0, -1e-3, 1e-3, 20, -20, 90, -90, 200, -200];
const FORMS = { silu, logsigmoid: logSigmoid } as const;

async function run(kind: keyof typeof FORMS, shape: number[], seed: number) {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const xs = Float32Array.from({ length: size }, (_, i) =>
    i < EXTREMES.length && size > EXTREMES.length ? EXTREMES[i]! : 4 * rng.normal(),
  );
  const x = tf.tensor(xs, shape);
  const w = tf.cos(tf.range(0, size).reshape(shape));
  const f = FORMS[kind];
  const y = f(x);
  const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), w)))(x);
  const out = [await y.data(), await g.data()] as Float32Array[];
  tf.dispose([x, w, y, g]);
  return out;
}

describe("activation kernels ≡ the TF-op forms (values and ∂/∂x)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    for (const kind of Object.keys(FORMS) as (keyof typeof FORMS)[]) {
      SHAPES.forEach((shape, i) => {
        it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: ${kind} [${shape.join(", ")}]`, async () => {
          await initBackend("cpu");
          const want = await run(kind, shape, 40 + i);
          const got = await withRegisteredKernels(backend, () => run(kind, shape, 40 + i));
          ["y", "dx"].forEach((name, part) => {
            got[part]!.forEach((v, j) => {
              const ref = want[part]![j]!;
              expect(Number.isFinite(v), `${name}[${j}] finite`).toBe(true);
              expect(Math.abs(v - ref), `${name}[${j}] at x = ${j}`).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(ref)));
            });
          });
          assertBackendHealthy();
        });
      });
    }
  }
});
