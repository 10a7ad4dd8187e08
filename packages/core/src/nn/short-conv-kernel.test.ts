// The short convolution's registered kernels (./short-conv-kernel.ts) ≡ its TF-op form (ShortConv.applyOps, what
// cpu and wasm train with), values and the gradients of x, the taps and the bias, at awkward sizes (T = 1, T < K,
// one channel, 33 channels, 130 steps) with and without bias and SiLU. cpu and wasm kernels everywhere; the WGSL
// kernels where a WebGPU adapter exists (CI: Mesa's lavapipe; SELECTIV_REQUIRE_WEBGPU=1 makes a missing one fail).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { ShortConv } from "./layers.js";
import { ParameterStore } from "./parameters.js";
import { shortConvKernel } from "./short-conv-kernel.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case {
  readonly B: number;
  readonly T: number;
  readonly D: number;
  readonly K: number;
  readonly bias: boolean;
  readonly silu: boolean;
}

const CASES: Case[] = [
  { B: 1, T: 1, D: 3, K: 4, bias: true, silu: true },
  { B: 3, T: 2, D: 5, K: 4, bias: false, silu: true },
  { B: 2, T: 7, D: 1, K: 4, bias: true, silu: false },
  { B: 2, T: 7, D: 33, K: 3, bias: false, silu: false },
  { B: 1, T: 70, D: 16, K: 4, bias: true, silu: true },
  { B: 3, T: 130, D: 8, K: 2, bias: false, silu: true },
  { B: 2, T: 300, D: 5, K: 4, bias: true, silu: true },
  // Positions in several blocks of the column sums (./workgroup-sum.ts): 8,400 rows, 16 blocks; 37 columns.
  { B: 4, T: 2100, D: 37, K: 4, bias: true, silu: true },
  // 4 × 600,001 tap gradients: over 65,535 workgroups of 32 columns, so TF.js folds the dispatch into two dimensions.
  { B: 1, T: 2, D: 600_001, K: 4, bias: false, silu: false },
];

const label = (c: Case) => `B=${c.B}, T=${c.T}, D=${c.D}, K=${c.K}, ${c.bias ? "bias" : "no bias"}, ${c.silu ? "SiLU" : "linear"}`;

function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return { x: normal(c.B * c.T * c.D), w: normal(c.K * c.D), b: normal(c.D) };
}

type Drawn = ReturnType<typeof draw>;
const NAMES = ["y", "dx", "dw", "db"];

/** y and the gradients of Σ y ⊙ sin(i) with respect to x, the taps and the bias (when there is one). */
async function evaluate(c: Case, d: Drawn, form: "ops" | "kernel"): Promise<Float32Array[]> {
  const store = new ParameterStore(1);
  const conv = new ShortConv(store.scope("conv"), "c", c.D, c.K, { bias: c.bias, activation: c.silu ? "silu" : "none" });
  conv.weight.assign(tf.tensor(d.w, [c.K, c.D]));
  conv.bias?.assign(tf.tensor(d.b, [c.D]));
  const results = tf.tidy(() => {
    const x = tf.tensor3d(d.x, [c.B, c.T, c.D]);
    const apply = (input: tf.Tensor3D) =>
      form === "ops"
        ? conv.applyOps(input)
        : shortConvKernel(input, conv.weight as tf.Tensor2D, conv.bias as tf.Tensor1D | undefined, c.silu);
    const weights = tf.sin(tf.range(0, c.B * c.T * c.D).reshape([c.B, c.T, c.D]));
    const y = apply(x);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(apply(x), weights)) as tf.Scalar,
      [conv.weight, ...(conv.bias ? [conv.bias] : [])],
    );
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(apply(input as tf.Tensor3D), weights)))(x);
    value.dispose();
    return [y, dx, grads[conv.weight.name]!, ...(conv.bias ? [grads[conv.bias.name]!] : [])];
  });
  const values = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(results);
  store.dispose();
  return values;
}

function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.length, `${name}: ${NAMES[i]} size`).toBe(w.length);
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]!));
      worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
    }
    expect(worst / scale, `${name}: ${NAMES[i]}`).toBeLessThan(1e-5);
  });
}

const oracles = new Map<number, Float32Array[]>();
async function oracle(i: number, c: Case, d: Drawn) {
  if (!oracles.has(i)) {
    await initBackend("cpu");
    oracles.set(i, await evaluate(c, d, "ops"));
  }
  return oracles.get(i)!;
}

describe("short convolution: registered kernels ≡ the TF-op form (values and the gradients of x, taps, bias)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    CASES.forEach((c, i) => {
      it(`${backend} kernels: ${label(c)}`, async () => {
        const d = draw(c, 40 + i);
        const want = await oracle(i, c, d);
        await initBackend(backend);
        expectClose(await evaluate(c, d, "kernel"), want, label(c));
      });
    });
  }

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  CASES.forEach((c, i) => {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernels: ${label(c)}`,
      async () => {
        const d = draw(c, 40 + i);
        const want = await oracle(i, c, d);
        await initBackend("webgpu");
        expectClose(await evaluate(c, d, "kernel"), want, label(c));
        assertBackendHealthy();
      },
      120_000,
    );
  });
});
