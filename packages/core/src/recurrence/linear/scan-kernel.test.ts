// The registered decayed-linear-scan kernels (./scan-kernel.ts) ≡ the step-by-step oracle (./naive.ts, on cpu):
// outputs, final state and every input's gradient, at awkward sizes and extreme decays. The cpu and wasm kernels
// (the fused Float32Array scan) run everywhere; the WGSL kernels run where a WebGPU adapter exists (CI: Mesa's lavapipe),
// and SELECTIV_REQUIRE_WEBGPU=1 makes a missing adapter a failure.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../../backend.js";
import { Rng } from "../../rng.js";
import { tf } from "../../tf.js";
import type { Decay, RecurrenceInputs } from "./inputs.js";
import { stepwiseScan } from "./naive.js";
import { linearRecurrenceOutputByTime, swapTimeAndHeads } from "./index.js";
import { kernelScan, kernelScanOutput } from "./scan-kernel.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case {
  readonly name: string;
  readonly B: number;
  readonly H: number;
  readonly T: number;
  readonly dk: number;
  readonly dv: number;
  readonly kind: Decay["kind"];
  /** log α: drawn as −softplus(N(0, 1)) when "random", else this constant. */
  readonly logAlpha: "random" | number;
  /** Query and key with one head shared by every head (Mamba2's C and B). */
  readonly sharedHeads?: boolean;
}

const CASES: Case[] = [
  { name: "T=1", B: 1, H: 2, T: 1, dk: 3, dv: 5, kind: "diagonal", logAlpha: "random" },
  { name: "T=7, batch 3", B: 3, H: 2, T: 7, dk: 16, dv: 16, kind: "diagonal", logAlpha: "random" },
  { name: "T=70, d_k=33", B: 1, H: 1, T: 70, dk: 33, dv: 7, kind: "diagonal", logAlpha: "random" },
  { name: "T=130, d_v=33, batch 3", B: 3, H: 2, T: 130, dk: 16, dv: 33, kind: "diagonal", logAlpha: "random" },
  { name: "log α = 0", B: 3, H: 1, T: 70, dk: 3, dv: 16, kind: "diagonal", logAlpha: 0 },
  { name: "log α = −30", B: 1, H: 2, T: 70, dk: 16, dv: 3, kind: "diagonal", logAlpha: -30 },
  { name: "scalar decay", B: 3, H: 2, T: 7, dk: 3, dv: 33, kind: "scalar", logAlpha: "random" },
  { name: "scalar decay −30", B: 1, H: 2, T: 130, dk: 33, dv: 3, kind: "scalar", logAlpha: -30 },
  { name: "no decay", B: 1, H: 3, T: 130, dk: 3, dv: 16, kind: "none", logAlpha: 0 },
  { name: "shared query/key head", B: 3, H: 3, T: 70, dk: 16, dv: 3, kind: "scalar", logAlpha: "random", sharedHeads: true },
  // Mamba2's paper head (d_state 128 as d_k, head dim 64 as d_v; a query/key head shared by all).
  { name: "paper head size", B: 1, H: 2, T: 20, dk: 128, dv: 64, kind: "scalar", logAlpha: "random", sharedHeads: true },
  // Rows and columns split over 2 invocations in the stateless WGSL programs (./scan-webgpu-split.ts: 4 at d = 16).
  { name: "d_k=10, d_v=6", B: 2, H: 3, T: 33, dk: 10, dv: 6, kind: "diagonal", logAlpha: "random" },
];

/** A case's inputs as plain arrays, so that each backend builds its own tensors from the same numbers. */
function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
  const qkHeads = c.sharedHeads ? 1 : c.H;
  const decayShape = c.kind === "diagonal" ? [c.B, c.H, c.T, c.dk] : [c.B, c.H, c.T];
  const decaySize = decayShape.reduce((a, b) => a * b, 1);
  const logAlpha =
    c.logAlpha === "random"
      ? Float32Array.from({ length: decaySize }, () => -Math.log1p(Math.exp(rng.normal())))
      : new Float32Array(decaySize).fill(c.logAlpha);
  return {
    q: { shape: [c.B, qkHeads, c.T, c.dk], values: normal(c.B * qkHeads * c.T * c.dk, 0.5) },
    k: { shape: [c.B, qkHeads, c.T, c.dk], values: normal(c.B * qkHeads * c.T * c.dk, 0.5) },
    v: { shape: [c.B, c.H, c.T, c.dv], values: normal(c.B * c.H * c.T * c.dv, 1) },
    logAlpha: { shape: decayShape, values: logAlpha },
    s0: { shape: [c.B, c.H, c.dk, c.dv], values: normal(c.B * c.H * c.dk * c.dv, 0.3) },
  };
}

type Drawn = ReturnType<typeof draw>;
type Scan = (inputs: RecurrenceInputs, s0: tf.Tensor4D) => { output: tf.Tensor4D; state: tf.Tensor4D };

/** Outputs, final state and the gradients of a weighted sum of both (every entry weighted differently), as arrays. */
async function evaluate(c: Case, d: Drawn, scan: Scan): Promise<Float32Array[]> {
  const results = tf.tidy(() => {
    const t = (x: { shape: number[]; values: Float32Array }) => tf.tensor(x.values, x.shape);
    const xs = [t(d.q), t(d.k), t(d.v), t(d.s0), t(d.logAlpha)];
    const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, s0: tf.Tensor, la: tf.Tensor) => {
      const decay = (c.kind === "none" ? { kind: "none" } : { kind: c.kind, logAlpha: la }) as Decay;
      return scan({ query: q as tf.Tensor4D, key: k as tf.Tensor4D, value: v as tf.Tensor4D, decay }, s0 as tf.Tensor4D);
    };
    const loss = (...a: tf.Tensor[]) => {
      const r = run(a[0]!, a[1]!, a[2]!, a[3]!, a[4] ?? xs[4]!);
      const w1 = tf.sin(tf.range(0, r.output.size).reshape(r.output.shape));
      const w2 = tf.cos(tf.range(0, r.state.size).reshape(r.state.shape));
      return tf.add(tf.sum(tf.mul(r.output, w1)), tf.sum(tf.mul(r.state, w2))) as tf.Scalar;
    };
    const r = run(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!);
    // With no decay log α is unused: differentiate with respect to the others only.
    const grads = tf.grads(loss)(c.kind === "none" ? xs.slice(0, 4) : xs);
    return [r.output, r.state, ...grads];
  });
  // Read asynchronously: the webgpu backend cannot read synchronously in Node.
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

const LABELS = ["output", "final state", "dq", "dk", "dv", "dS_0", "d log α"];

/** Each result within 1e-4 of the oracle's, relative to max(1, the oracle's largest magnitude). */
function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    expect(g.length, `${name}: ${LABELS[i]} size`).toBe(w.length);
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]!));
      worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
    }
    expect(worst / scale, `${name}: ${LABELS[i]}`).toBeLessThan(1e-4);
    expect(g.every(Number.isFinite), `${name}: ${LABELS[i]} finite`).toBe(true);
  }
}

const oracles = new Map<string, Float32Array[]>();
async function oracle(c: Case, d: Drawn): Promise<Float32Array[]> {
  const known = oracles.get(c.name);
  if (known) return known;
  await initBackend("cpu");
  const o = await evaluate(c, d, (inp, s0) => stepwiseScan(inp, s0));
  oracles.set(c.name, o);
  return o;
}

describe("registered decayed linear scan ≡ step-by-step oracle (values and every gradient, relative 1e-4)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    for (const [i, c] of CASES.entries()) {
      it(`${backend} kernel: ${c.name} (${c.kind}, B=${c.B}, H=${c.H}, T=${c.T}, d_k=${c.dk}, d_v=${c.dv})`, async () => {
        const d = draw(c, 500 + i);
        const want = await oracle(c, d);
        await initBackend(backend);
        expectClose(await evaluate(c, d, kernelScan), want, c.name);
      });
    }
  }

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  for (const [i, c] of CASES.entries()) {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernel: ${c.name} (${c.kind}, B=${c.B}, H=${c.H}, T=${c.T}, d_k=${c.dk}, d_v=${c.dv})`,
      async () => {
        const d = draw(c, 500 + i);
        const want = await oracle(c, d);
        await initBackend("webgpu");
        expectClose(await evaluate(c, d, kernelScan), want, c.name);
        assertBackendHealthy();
      },
      120_000,
    );
  }
});

/** The readouts from S_0 = 0 and the gradients of their weighted sum (dq, dk, dv and, with a decay, d log α). */
async function evaluateOutput(c: Case, d: Drawn, output: (inputs: RecurrenceInputs) => tf.Tensor4D): Promise<Float32Array[]> {
  const results = tf.tidy(() => {
    const t = (x: { shape: number[]; values: Float32Array }) => tf.tensor(x.values, x.shape);
    const xs = [t(d.q), t(d.k), t(d.v), t(d.logAlpha)];
    const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, la: tf.Tensor) => {
      const decay = (c.kind === "none" ? { kind: "none" } : { kind: c.kind, logAlpha: la }) as Decay;
      return output({ query: q as tf.Tensor4D, key: k as tf.Tensor4D, value: v as tf.Tensor4D, decay });
    };
    const loss = (...a: tf.Tensor[]) => {
      const o = run(a[0]!, a[1]!, a[2]!, a[3] ?? xs[3]!);
      return tf.sum(tf.mul(o, tf.sin(tf.range(0, o.size).reshape(o.shape)))) as tf.Scalar;
    };
    const o = run(xs[0]!, xs[1]!, xs[2]!, xs[3]!);
    return [o, ...tf.grads(loss)(c.kind === "none" ? xs.slice(0, 3) : xs)];
  });
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

describe("registered scan without state (S_0 = 0, readouts only) ≡ step-by-step oracle (values and gradients)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  const OUTPUT_LABELS = ["output", "dq", "dk", "dv", "d log α"];
  const compare = (got: Float32Array[], want: Float32Array[], name: string) => {
    expect(got.length).toBe(want.length);
    want.forEach((w, i) => {
      const scale = w.reduce((m, x) => Math.max(m, Math.abs(x)), 1);
      const worst = got[i]!.reduce((m, x, j) => Math.max(m, Math.abs(x - w[j]!)), 0);
      expect(got[i]!.every(Number.isFinite), `${name}: ${OUTPUT_LABELS[i]} finite`).toBe(true);
      expect(worst / scale, `${name}: ${OUTPUT_LABELS[i]}`).toBeLessThan(1e-4);
    });
  };
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    for (const [i, c] of CASES.entries()) {
      it.runIf(backend !== "webgpu" || probe.ok)(
        `${backend}: ${c.name} (${c.kind}, B=${c.B}, H=${c.H}, T=${c.T}, d_k=${c.dk}, d_v=${c.dv})`,
        async () => {
          const d = draw(c, 700 + i);
          d.s0.values.fill(0);
          await initBackend("cpu");
          const want = await evaluateOutput(c, d, (inp) => stepwiseScan(inp, tf.zeros(d.s0.shape) as tf.Tensor4D).output);
          await initBackend(backend);
          compare(await evaluateOutput(c, d, (inp) => kernelScanOutput(inp)), want, c.name);
          // Time-major: the same numbers with every tensor [B, T, H, ·] (the kernel's `timeMajor` attr), and through
          // linearRecurrenceOutputByTime (the kernel on webgpu; transposes around the fused scan on cpu and wasm).
          const byTime = (f: (inp: RecurrenceInputs) => tf.Tensor4D) => (inp: RecurrenceInputs) => swapTimeHeads(f(swapTimeAndHeads(inp)));
          compare(
            await evaluateOutput(
              c,
              d,
              byTime((inp) => kernelScanOutput(inp, true)),
            ),
            want,
            `${c.name}, time-major kernel`,
          );
          compare(
            await evaluateOutput(
              c,
              d,
              byTime((inp) => linearRecurrenceOutputByTime(inp, "chunked")),
            ),
            want,
            `${c.name}, by time`,
          );
          assertBackendHealthy();
        },
        120_000,
      );
    }
  }
});

const swapTimeHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
