// LayerNorm and RMSNorm as registered kernels (./norm-kernel.ts) ≡ their TF-op forms (applyOps, what cpu and wasm
// train with): values and the gradients of x, γ and β, at awkward sizes (one feature, one row, 33 features, rank 4),
// on cpu and wasm everywhere and on webgpu where an adapter exists (CI: Mesa's lavapipe).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { withRegisteredKernels } from "../kernel-choice.fixture.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { LayerNorm, RMSNorm, l2NormalizeLastAxis } from "./layers.js";
import { ParameterStore } from "./parameters.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case {
  /** rms-outside: the reference Transformer's RMSNorm, eps 1e-8 added outside the root. */
  readonly kind: "layer" | "rms" | "rms-outside";
  readonly shape: number[];
  /** Shift of x's mean (a large one tests the centring). */
  readonly shift: number;
  /** x's spread (default 1); near eps it makes (σ + ε)/σ differ from 1. */
  readonly scale?: number;
  /** Only the WGSL kernels (a dispatch layout only they have); wasm's own float32 sums drift at this size. */
  readonly webgpuOnly?: boolean;
}

const CASES: Case[] = [
  { kind: "layer", shape: [1, 1, 3], shift: 0 },
  { kind: "layer", shape: [3, 7, 1], shift: 0 },
  { kind: "layer", shape: [2, 70, 33], shift: 5 },
  { kind: "layer", shape: [2, 3, 7, 16], shift: 0 },
  { kind: "rms", shape: [1, 1, 3], shift: 0 },
  { kind: "rms", shape: [3, 7, 5], shift: 2 },
  { kind: "rms", shape: [2, 3, 70, 33], shift: 0 },
  // Many columns (70,001: 2,188 workgroups of 32 in the column sums, ./workgroup-sum.ts).
  { kind: "rms", shape: [2, 70_001], shift: 0 },
  // Rows in several blocks of the column sums (./workgroup-sum.ts: from 8,192 rows, ⌊rows / 512⌋ blocks, at most 64).
  { kind: "layer", shape: [3, 3000, 33], shift: 1 },
  { kind: "rms", shape: [40_001, 3], shift: 0 },
  // Over 65,535 rows: one workgroup per row, so TF.js folds the dispatch into two dimensions.
  { kind: "layer", shape: [70_001, 2], shift: 0, webgpuOnly: true },
  { kind: "rms-outside", shape: [1, 1, 3], shift: 0 },
  { kind: "rms-outside", shape: [3, 7, 5], shift: 2 },
  { kind: "rms-outside", shape: [2, 3, 70, 33], shift: 0 },
  { kind: "rms-outside", shape: [4, 9, 16], shift: 0, scale: 1e-7 },
];
const NAMES = ["y", "dx", "dγ", "dβ"];
const KIND_NAMES = { layer: "LayerNorm", rms: "RMSNorm", "rms-outside": "RMSNorm (eps outside the root)" };
const label = (c: Case) => `${KIND_NAMES[c.kind]} [${c.shape.join(", ")}], mean shift ${c.shift}${c.scale ? `, spread ${c.scale}` : ""}`;

async function evaluate(c: Case, seed: number, form: "ops" | "kernel"): Promise<Float32Array[]> {
  const rng = new Rng(seed);
  const D = c.shape.at(-1)!;
  const size = c.shape.reduce((a, b) => a * b, 1);
  const xs = Float32Array.from({ length: size }, () => c.shift + (c.scale ?? 1) * rng.normal());
  const gamma = Float32Array.from({ length: D }, () => 1 + 0.5 * rng.normal());
  const beta = Float32Array.from({ length: D }, () => 0.5 * rng.normal());
  const store = new ParameterStore(1);
  const norm =
    c.kind === "layer"
      ? new LayerNorm(store.scope("n"), "norm", D)
      : c.kind === "rms"
        ? new RMSNorm(store.scope("n"), "norm", D)
        : new RMSNorm(store.scope("n"), "norm", D, 1e-8, true);
  norm.weight.assign(tf.tensor1d(gamma));
  if (norm instanceof LayerNorm) norm.bias.assign(tf.tensor1d(beta));
  const params = norm instanceof LayerNorm ? [norm.weight, norm.bias] : [norm.weight];
  const results = tf.tidy(() => {
    const x = tf.tensor(xs, c.shape);
    const apply = (input: tf.Tensor) => (form === "ops" ? norm.applyOps(input) : norm.apply(input));
    const weights = tf.sin(tf.range(0, size).reshape(c.shape));
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(apply(input), weights)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(() => loss(x), params);
    value.dispose();
    return [apply(x), tf.grad(loss)(x), ...params.map((p) => grads[p.name]!)];
  });
  const values = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(results);
  store.dispose();
  return values;
}

function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]!));
      worst = Math.max(worst, Math.abs(got[i]![j]! - w[j]!));
    }
    expect(worst / scale, `${name}: ${NAMES[i]}`).toBeLessThan(1e-4);
  });
}

const oracles = new Map<number, Float32Array[]>();
async function oracle(i: number) {
  if (!oracles.has(i)) {
    await initBackend("cpu");
    oracles.set(i, await evaluate(CASES[i]!, 60 + i, "ops"));
  }
  return oracles.get(i)!;
}

describe("LayerNorm / RMSNorm: registered kernels ≡ the TF-op forms (values and the gradients of x, γ, β)", () => {
  // On cpu and wasm, apply() takes the kernels only when SELECTIV_KERNELS=registered asks for them.
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    CASES.forEach((c, i) => {
      it.skipIf(c.webgpuOnly)(`${backend} kernels: ${label(c)}`, async () => {
        const want = await oracle(i);
        expectClose(await withRegisteredKernels(backend, () => evaluate(c, 60 + i, "kernel")), want, label(c));
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
        const want = await oracle(i);
        await initBackend("webgpu");
        expectClose(await evaluate(c, 60 + i, "kernel"), want, label(c));
        assertBackendHealthy();
      },
      120_000,
    );
  });
});

describe("L2 norm over the last axis (the norm kernel with Σ for mean, γ = 1) ≡ its TF-op form (values and ∂/∂x)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  const SHAPES = [
    [1, 1, 3],
    [2, 3, 7, 16],
    [4, 33, 1],
    [2, 5, 64],
  ];
  const run = async (shape: number[], seed: number) => {
    const rng = new Rng(seed);
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(
      Float32Array.from({ length: size }, () => rng.normal() * (seed % 2 ? 1 : 1e-4)),
      shape,
    );
    const w = tf.sin(tf.range(0, size).reshape(shape));
    const f = (input: tf.Tensor) => tf.sum(tf.mul(l2NormalizeLastAxis(input, 1e-6), w));
    const y = l2NormalizeLastAxis(x, 1e-6);
    const g = tf.grad(f)(x);
    const out = [await y.data(), await g.data()] as Float32Array[];
    tf.dispose([x, w, y, g]);
    return out;
  };
  for (const mode of ["cpu", "wasm", "webgpu"] as const) {
    SHAPES.forEach((shape, i) => {
      it.runIf(mode !== "webgpu" || probe.ok)(`${mode} kernels: [${shape.join(", ")}]`, async () => {
        await initBackend("cpu");
        const want = await run(shape, 30 + i);
        expectClose(await withRegisteredKernels(mode, () => run(shape, 30 + i)), want, `L2 [${shape.join(", ")}]`);
        assertBackendHealthy();
      });
    });
  }
});
