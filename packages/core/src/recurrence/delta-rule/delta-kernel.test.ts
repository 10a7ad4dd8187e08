// The registered delta-rule kernels (./delta-kernel.ts) ≡ the step-by-step oracle (./naive.ts, on cpu): outputs,
// final state and every input's gradient, at awkward sizes, β near 0, 1 and 2, no / random / extreme decays and the
// Gated DeltaProduct layout. The cpu and wasm kernels (the fused Float32Array rule) run everywhere; the WGSL kernels
// run where a WebGPU adapter exists (CI: Mesa's lavapipe), and SELECTIV_REQUIRE_WEBGPU=1 makes a missing adapter a
// failure.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../../backend.js";
import { Rng } from "../../rng.js";
import { tf } from "../../tf.js";
import { DELTA_RULE, kernelDeltaRule, kernelDeltaRuleOutputByTime } from "./delta-kernel.js";
import { fusedDeltaRule } from "./fused.js";
import { deltaRule, deltaRuleOutputByTime } from "./index.js";
import type { DeltaRuleInputs } from "./inputs.js";
import { deltaRuleStepwise } from "./naive.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case {
  readonly name: string;
  readonly B: number;
  readonly H: number;
  readonly T: number;
  readonly dk: number;
  readonly dv: number;
  /** β: scale·σ(N(0, 1)) when "random" (scale 2 allows negative eigenvalues, §3.3), else this constant. */
  readonly beta: { random: number } | number;
  /** log α: absent (DeltaNet), drawn as −softplus(N(0, 1)) when "random", else this constant. */
  readonly logAlpha: "none" | "random" | number;
  /**
   * Gated DeltaProduct's interleaved layout (§3.5) with this many micro-steps per token: log α only at the first
   * micro-step of a token, the query only at the last (zeros elsewhere).
   */
  readonly householders?: number;
}

const CASES: Case[] = [
  { name: "T=1", B: 1, H: 2, T: 1, dk: 3, dv: 5, beta: { random: 1 }, logAlpha: "random" },
  { name: "T=7, batch 3", B: 3, H: 2, T: 7, dk: 16, dv: 16, beta: { random: 1 }, logAlpha: "random" },
  { name: "T=70, d_k=33", B: 1, H: 1, T: 70, dk: 33, dv: 7, beta: { random: 1 }, logAlpha: "random" },
  { name: "T=130, d_v=33, batch 3", B: 3, H: 2, T: 130, dk: 16, dv: 33, beta: { random: 1 }, logAlpha: "random" },
  { name: "DeltaNet (no decay)", B: 1, H: 3, T: 130, dk: 3, dv: 16, beta: { random: 1 }, logAlpha: "none" },
  { name: "log α = −30", B: 1, H: 2, T: 70, dk: 16, dv: 3, beta: { random: 1 }, logAlpha: -30 },
  { name: "β near 0", B: 3, H: 1, T: 70, dk: 3, dv: 16, beta: 1e-3, logAlpha: "random" },
  { name: "β near 1", B: 1, H: 2, T: 70, dk: 16, dv: 33, beta: 0.999, logAlpha: "none" },
  { name: "β near 2", B: 3, H: 2, T: 130, dk: 33, dv: 3, beta: 1.98, logAlpha: "random" },
  { name: "β ∈ (0, 2), random", B: 1, H: 2, T: 70, dk: 16, dv: 16, beta: { random: 2 }, logAlpha: "random" },
  // The paper's Gated DeltaNet head (d_k 64, d_v 128: 16 and 32 state entries per invocation).
  { name: "paper head size", B: 1, H: 2, T: 20, dk: 64, dv: 128, beta: { random: 1 }, logAlpha: "random" },
  { name: "d_k=6, d_v=10 (2-way splits), batch 5", B: 5, H: 3, T: 33, dk: 6, dv: 10, beta: { random: 1 }, logAlpha: "random" },
  { name: "Gated DeltaProduct layout", B: 3, H: 2, T: 28, dk: 16, dv: 16, beta: { random: 2 }, logAlpha: "random", householders: 4 },
];

/** A case's inputs as plain arrays, so that each backend builds its own tensors from the same numbers. */
function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
  const steps = c.B * c.H * c.T;
  const n = c.householders ?? 1;
  // Unit keys (the layers l2-normalise them): β k kᵀ then has eigenvalue β, and β near 2 is a reflection.
  const key = normal(steps * c.dk, 1);
  for (let s = 0; s < steps; s++) {
    const row = key.subarray(s * c.dk, (s + 1) * c.dk);
    const norm = Math.hypot(...row);
    for (let i = 0; i < c.dk; i++) row[i] = row[i]! / norm;
  }
  const query = normal(steps * c.dk, 1 / Math.sqrt(c.dk));
  const beta =
    typeof c.beta === "number"
      ? new Float32Array(steps).fill(c.beta)
      : Float32Array.from({ length: steps }, () => c.beta.random / (1 + Math.exp(-rng.normal())));
  const logAlpha =
    c.logAlpha === "random"
      ? Float32Array.from({ length: steps }, () => -Math.log1p(Math.exp(rng.normal())))
      : new Float32Array(steps).fill(c.logAlpha === "none" ? 0 : c.logAlpha);
  if (n > 1)
    for (let s = 0; s < steps; s++) {
      const t = s % c.T;
      if (t % n !== 0) logAlpha[s] = 0;
      if (t % n !== n - 1) query.fill(0, s * c.dk, (s + 1) * c.dk);
    }
  return {
    q: { shape: [c.B, c.H, c.T, c.dk], values: query },
    k: { shape: [c.B, c.H, c.T, c.dk], values: key },
    v: { shape: [c.B, c.H, c.T, c.dv], values: normal(steps * c.dv, 1) },
    beta: { shape: [c.B, c.H, c.T], values: beta },
    s0: { shape: [c.B, c.H, c.dk, c.dv], values: normal(c.B * c.H * c.dk * c.dv, 0.3) },
    logAlpha: { shape: [c.B, c.H, c.T], values: logAlpha },
  };
}

type Drawn = ReturnType<typeof draw>;
type Rule = (inputs: DeltaRuleInputs, s0: tf.Tensor4D) => { output: tf.Tensor4D; state: tf.Tensor4D };

/** Outputs, final state and the gradients of a weighted sum of both (every entry weighted differently), as arrays. */
async function evaluate(c: Case, d: Drawn, rule: Rule): Promise<Float32Array[]> {
  const results = tf.tidy(() => {
    const t = (x: { shape: number[]; values: Float32Array }) => tf.tensor(x.values, x.shape);
    const xs = [t(d.q), t(d.k), t(d.v), t(d.beta), t(d.s0), t(d.logAlpha)];
    const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, beta: tf.Tensor, s0: tf.Tensor, la: tf.Tensor) =>
      rule(
        {
          query: q as tf.Tensor4D,
          key: k as tf.Tensor4D,
          value: v as tf.Tensor4D,
          beta: beta as tf.Tensor3D,
          logAlpha: c.logAlpha === "none" ? undefined : (la as tf.Tensor3D),
        },
        s0 as tf.Tensor4D,
      );
    const loss = (...a: tf.Tensor[]) => {
      const r = run(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5] ?? xs[5]!);
      const w1 = tf.sin(tf.range(0, r.output.size).reshape(r.output.shape));
      const w2 = tf.cos(tf.range(0, r.state.size).reshape(r.state.shape));
      return tf.add(tf.sum(tf.mul(r.output, w1)), tf.sum(tf.mul(r.state, w2))) as tf.Scalar;
    };
    const r = run(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, xs[5]!);
    // Without a decay log α is unused: differentiate with respect to the others only.
    const grads = tf.grads(loss)(c.logAlpha === "none" ? xs.slice(0, 5) : xs);
    return [r.output, r.state, ...grads];
  });
  // Read asynchronously: the webgpu backend cannot read synchronously in Node.
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

const LABELS = ["output", "final state", "dq", "dk", "dv", "dβ", "dS_0", "d log α"];

/** Each result within 1e-4 of the oracle's, relative to max(1, the oracle's largest magnitude). */
function expectClose(got: Float32Array[], want: Float32Array[], name: string, labels = LABELS) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    expect(g.length, `${name}: ${labels[i]} size`).toBe(w.length);
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]!));
      worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
    }
    expect(worst / scale, `${name}: ${labels[i]}`).toBeLessThan(1e-4);
    expect(g.every(Number.isFinite), `${name}: ${labels[i]} finite`).toBe(true);
  }
}

const oracles = new Map<string, Float32Array[]>();
async function oracle(c: Case, d: Drawn): Promise<Float32Array[]> {
  const known = oracles.get(c.name);
  if (known) return known;
  await initBackend("cpu");
  const o = await evaluate(c, d, (inp, s0) => deltaRuleStepwise(inp, s0));
  oracles.set(c.name, o);
  return o;
}

const describeCase = (c: Case) => `${c.name} (B=${c.B}, H=${c.H}, T=${c.T}, d_k=${c.dk}, d_v=${c.dv})`;

describe("registered delta rule ≡ step-by-step oracle (values and every gradient, relative 1e-4)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    for (const [i, c] of CASES.entries()) {
      it(`${backend} kernel: ${describeCase(c)}`, async () => {
        const d = draw(c, 700 + i);
        const want = await oracle(c, d);
        await initBackend(backend);
        expectClose(await evaluate(c, d, kernelDeltaRule), want, c.name);
      });
    }
  }

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  for (const [i, c] of CASES.entries()) {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernel: ${describeCase(c)}`,
      async () => {
        const d = draw(c, 700 + i);
        const want = await oracle(c, d);
        await initBackend("webgpu");
        expectClose(await evaluate(c, d, kernelDeltaRule), want, c.name);
        assertBackendHealthy();
      },
      // Lavapipe compiles each (d_k, d_v) shader set on the CPU: up to a minute or two per new pair.
      300_000,
    );
  }
});

type RuleByTime = (inputs: DeltaRuleInputs) => tf.Tensor4D;

/**
 * Time-major, from S_0 = 0: the readouts and the gradients of their weighted sum with respect to q, k, v, β (and
 * log α). The drawn lane-major inputs are transposed inside the differentiated function, so every gradient comes back
 * lane-major and compares with the oracle's directly.
 */
async function evaluateByTime(c: Case, d: Drawn, rule: RuleByTime): Promise<Float32Array[]> {
  const results = tf.tidy(() => {
    const t = (x: { shape: number[]; values: Float32Array }) => tf.tensor(x.values, x.shape);
    const xs = [t(d.q), t(d.k), t(d.v), t(d.beta), t(d.logAlpha)];
    const swap = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1, 3]) as tf.Tensor4D;
    const timeMajor = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;
    const run = (a: tf.Tensor[]) =>
      rule({
        query: swap(a[0]!),
        key: swap(a[1]!),
        value: swap(a[2]!),
        beta: timeMajor(a[3]!),
        logAlpha: c.logAlpha === "none" ? undefined : timeMajor(a[4]!),
      });
    const output = run(xs);
    const weights = tf.sin(tf.range(0, output.size).reshape(output.shape));
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(run(a), weights)) as tf.Scalar)(
      c.logAlpha === "none" ? xs.slice(0, 4) : xs,
    );
    return [output, ...grads];
  });
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

const LABELS_BY_TIME = ["readouts", "dq", "dk", "dv", "dβ", "d log α"];

const oraclesByTime = new Map<string, Float32Array[]>();
async function oracleByTime(c: Case, d: Drawn): Promise<Float32Array[]> {
  const known = oraclesByTime.get(c.name);
  if (known) return known;
  await initBackend("cpu");
  const o = await evaluateByTime(c, d, (inp) => deltaRuleOutputByTime(inp, "stepwise"));
  oraclesByTime.set(c.name, o);
  return o;
}

// Cases of every kind at a third of the cost: awkward sizes, DeltaNet, β near 2, the paper head, 2-way splits.
const BY_TIME = CASES.filter((_, i) => [0, 3, 4, 8, 10, 11].includes(i));

describe("registered delta rule, time-major without state ≡ step-by-step oracle (readouts and every gradient)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    for (const c of BY_TIME) {
      it(`${backend} kernel: ${describeCase(c)}`, async () => {
        const d = draw(c, 900 + CASES.indexOf(c));
        const want = await oracleByTime(c, d);
        await initBackend(backend);
        expectClose(await evaluateByTime(c, d, kernelDeltaRuleOutputByTime), want, c.name, LABELS_BY_TIME);
      });
    }
  }

  for (const c of BY_TIME) {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernel: ${describeCase(c)}`,
      async () => {
        const d = draw(c, 900 + CASES.indexOf(c));
        const want = await oracleByTime(c, d);
        await initBackend("webgpu");
        expectClose(await evaluateByTime(c, d, kernelDeltaRuleOutputByTime), want, c.name, LABELS_BY_TIME);
        assertBackendHealthy();
      },
      300_000,
    );
  }
});

describe("deltaRule's form per SELECTIV_KERNELS on cpu", () => {
  const saved = process.env.SELECTIV_KERNELS;
  afterAll(() => {
    if (saved === undefined) delete process.env.SELECTIV_KERNELS;
    else process.env.SELECTIV_KERNELS = saved;
  });

  it("registered runs SelectivDeltaRule, with the fused rule's numbers; the default and ops do not run it", async () => {
    await initBackend("cpu");
    const c = CASES[1]!;
    const d = draw(c, 42);
    const t = (x: { shape: number[]; values: Float32Array }) => tf.tensor(x.values, x.shape);
    const inputs: DeltaRuleInputs = {
      query: t(d.q) as tf.Tensor4D,
      key: t(d.k) as tf.Tensor4D,
      value: t(d.v) as tf.Tensor4D,
      beta: t(d.beta) as tf.Tensor3D,
      logAlpha: t(d.logAlpha) as tf.Tensor3D,
    };
    const run = async (mode: string | undefined) => {
      if (mode === undefined) delete process.env.SELECTIV_KERNELS;
      else process.env.SELECTIV_KERNELS = mode;
      let output: Float32Array = new Float32Array(0);
      const info = await tf.profile(() => {
        output = deltaRule(inputs, "chunked").output.dataSync() as Float32Array;
      });
      return { output, usedKernel: info.kernelNames.includes(DELTA_RULE) };
    };
    const registered = await run("registered");
    expect(registered.usedKernel).toBe(true);
    expect(Array.from(registered.output)).toEqual(Array.from(fusedDeltaRule(inputs).output.dataSync()));
    expect((await run(undefined)).usedKernel).toBe(false);
    expect((await run("ops")).usedKernel).toBe(false);
  });
});
