// Clipping + Adam as registered kernels (./optim-kernel.ts) against the TF-op path that cpu and wasm train with
// (clipByGlobalNorm, then Adam.apply): the cpu/wasm kernels (the plain float32 loop) everywhere, the WGSL kernels
// where a WebGPU adapter exists (CI: Mesa's lavapipe; SELECTIV_REQUIRE_WEBGPU=1 makes a missing adapter a failure).
// Awkward sizes (1, 7, 255–257, 3 × 5 × 7, 100,003), clipping on, off and disabled, and non-finite steps.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "./backend.js";
import { Adam, clipByGlobalNorm } from "./optim.js";
import { inPlaceAdamDispatches, inPlaceAdamGroupSize } from "./optim-in-place.js";
import { SQUARED_SUM, registerOptimizerKernels, squaredGlobalNorm } from "./optim-kernel.js";
import { Rng } from "./rng.js";
import { tf } from "./tf.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

const SHAPES: number[][] = [[1], [7], [255], [256], [257], [3, 5, 7], [100_003], [2, 33]];

interface Case {
  readonly name: string;
  /** Scales every gradient (a large one makes clipping act). */
  readonly gradScale: number;
  readonly maxNorm: number;
  /** Make step 2's loss or one gradient entry non-finite. */
  readonly poison?: "loss" | "gradient";
}

const CASES: Case[] = [
  { name: "clipping acts", gradScale: 3, maxNorm: 1 },
  { name: "under the clip norm", gradScale: 1e-3, maxNorm: 1 },
  { name: "clipping disabled (maxNorm 0)", gradScale: 3, maxNorm: 0 },
  { name: "step 2's loss is NaN", gradScale: 1, maxNorm: 1, poison: "loss" },
  { name: "step 2 has an infinite gradient", gradScale: 1, maxNorm: 1, poison: "gradient" },
];

/** Three steps' parameters and gradients, drawn once so that every backend starts from the same numbers. */
function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const params = SHAPES.map((s) => normal(size(s), 1));
  const steps = [0, 1, 2].map((step) => {
    const grads = SHAPES.map((s) => normal(size(s), c.gradScale));
    let loss = 1 + step;
    if (step === 1 && c.poison === "loss") loss = Number.NaN;
    if (step === 1 && c.poison === "gradient") grads[3]![17] = Number.POSITIVE_INFINITY;
    return { grads, loss, lr: 1e-2 * (step + 1) };
  });
  return { params, steps };
}

type Drawn = ReturnType<typeof draw>;

/** The parameters, moments and norms after the three steps, by path "readback" (TF ops) or "device" (kernels). */
async function train(c: Case, d: Drawn, path: "readback" | "device") {
  const variables = new Map(SHAPES.map((s, i) => [`p${i}`, tf.variable(tf.tensor(d.params[i]!, s))]));
  const adam = new Adam();
  const norms: number[] = [];
  const applied: boolean[] = [];
  for (const step of d.steps) {
    const grads: tf.NamedTensorMap = {};
    SHAPES.forEach((s, i) => (grads[`p${i}`] = tf.tensor(step.grads[i]!, s)));
    if (path === "readback") {
      const clipped = await clipByGlobalNorm(grads, c.maxNorm);
      const ok = Number.isFinite(step.loss) && Number.isFinite(clipped.norm);
      if (ok) adam.apply(variables, clipped.grads, step.lr);
      norms.push(clipped.norm);
      applied.push(ok);
      tf.dispose(clipped.grads);
      if (clipped.grads !== grads) tf.dispose(Object.values(grads));
    } else {
      const loss = tf.scalar(step.loss);
      const squared = adam.applyClipped(variables, grads, step.lr, c.maxNorm, loss);
      const norm = Math.sqrt((await squared.data())[0]!);
      const ok = Number.isFinite(step.loss) && Number.isFinite(norm);
      if (!ok) adam.uncountStep();
      norms.push(norm);
      applied.push(ok);
      tf.dispose([loss, squared, ...Object.values(grads)]);
    }
  }
  assertBackendHealthy();
  const state = await adam.getState();
  const values = await Promise.all([...variables.values()].map((v) => v.data() as Promise<Float32Array>));
  const result = {
    params: values,
    m: [...variables.keys()].map((k) => state.m.get(k)!),
    v: [...variables.keys()].map((k) => state.v.get(k)!),
    norms,
    applied,
    stepCount: state.step,
  };
  adam.dispose();
  for (const v of variables.values()) v.dispose();
  return result;
}

type Trained = Awaited<ReturnType<typeof train>>;

/** Each array within `tol` of the reference's, relative to max(1e-3, the reference's largest magnitude). */
function expectClose(got: Trained, want: Trained, tol: number, name: string) {
  expect(got.applied, `${name}: steps applied`).toEqual(want.applied);
  expect(got.stepCount, `${name}: Adam's step count`).toBe(want.stepCount);
  got.norms.forEach((n, i) => {
    if (Number.isFinite(want.norms[i]!)) expect(Math.abs(n - want.norms[i]!) / want.norms[i]!, `${name}: norm ${i}`).toBeLessThan(tol);
    else expect(Number.isFinite(n), `${name}: norm ${i} not finite`).toBe(false);
  });
  for (const part of ["params", "m", "v"] as const) {
    got[part].forEach((g, i) => {
      const w = want[part][i]!;
      expect(g.length, `${name}: ${part}[${i}] size`).toBe(w.length);
      let scale = 1e-3;
      let worst = 0;
      for (let j = 0; j < w.length; j++) {
        scale = Math.max(scale, Math.abs(w[j]!));
        worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
      }
      expect(worst / scale, `${name}: ${part} of p${i} (shape ${SHAPES[i]!.join("×")})`).toBeLessThan(tol);
    });
  }
}

const references = new Map<string, Trained>();
async function reference(c: Case, d: Drawn): Promise<Trained> {
  const known = references.get(c.name);
  if (known) return known;
  await initBackend("cpu");
  const r = await train(c, d, "readback");
  references.set(c.name, r);
  return r;
}

describe("clip + Adam kernels ≡ clipByGlobalNorm + Adam.apply (parameters, moments, norms over 3 steps)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("a skipped step changes nothing and does not count", async () => {
    const c = CASES[3]!;
    const r = await reference(c, draw(c, 900 + 3));
    expect(r.applied).toEqual([true, false, true]);
    expect(r.stepCount).toBe(2);
  });

  for (const backend of ["cpu", "wasm"] as const) {
    for (const [i, c] of CASES.entries()) {
      it(`${backend} kernels: ${c.name}`, async () => {
        const d = draw(c, 900 + i);
        const want = await reference(c, d);
        await initBackend(backend);
        expectClose(await train(c, d, "device"), want, 2e-6, c.name);
      });
    }
  }

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  for (const [i, c] of CASES.entries()) {
    it.runIf(probe.ok)(
      `webgpu (WGSL) kernels: ${c.name}`,
      async () => {
        const d = draw(c, 900 + i);
        const want = await reference(c, d);
        await initBackend("webgpu");
        const before = { ...inPlaceAdamDispatches };
        expectClose(await train(c, d, "device"), want, 1e-5, c.name);
        // Steps 2 and 3 update every parameter in place, k per dispatch (step 1 creates the moments, shared with
        // their zeros until the step ends, so it takes the three-dispatch kernel). 8 parameters: a short last group at 3 per dispatch.
        const k = inPlaceAdamGroupSize();
        expect(k, "parameters per dispatch").toBeGreaterThanOrEqual(1);
        expect(inPlaceAdamDispatches.parameters - before.parameters).toBe(2 * SHAPES.length);
        expect(inPlaceAdamDispatches.total - before.total).toBe(2 * Math.ceil(SHAPES.length / k));
      },
      120_000,
    );
  }

  it.runIf(probe.ok)("webgpu: a parameter whose buffer another tensor shares is not updated in place", async () => {
    await initBackend("webgpu");
    const initial = tf.tensor([1, 2, 3]);
    const variable = tf.variable(initial); // shares initial's buffer while initial lives
    const adam = new Adam();
    for (let step = 0; step < 3; step++) {
      const grads = { p: tf.tensor([0.5, -0.5, 1]) };
      const loss = tf.scalar(1);
      tf.dispose([adam.applyClipped(new Map([["p", variable]]), grads, 0.1, 1, loss), loss, grads.p]);
    }
    expect(Array.from(await initial.data())).toEqual([1, 2, 3]);
    const moved = Array.from(await variable.data());
    expect(moved[0]).toBeLessThan(1);
    expect(moved[1]).toBeGreaterThan(2);
    assertBackendHealthy();
    adam.dispose();
    tf.dispose([initial, variable]);
  });

  for (const backend of ["cpu", "webgpu"] as const) {
    it.runIf(backend === "cpu" || probe.ok)(
      `${backend}: squared norm of 37 gradients (several groups per dispatch, chained) ≡ the float64 sum`,
      async () => {
        await initBackend(backend);
        const rng = new Rng(11);
        const xs = Array.from({ length: 37 }, (_, i) => Float32Array.from({ length: 1 + ((i * 97) % 301) }, () => rng.normal()));
        let want = 0;
        for (const x of xs) for (const v of x) want += v * v;
        const ts = xs.map((x) => tf.tensor(x));
        const s = squaredGlobalNorm(ts);
        const got = (await s.data())[0]!;
        tf.dispose([...ts, s]);
        expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
      },
    );
  }

  it.runIf(probe.ok)("webgpu SelectivSquaredSum ≡ the cpu oracle slot by slot (128 slots, tensors past 128 × 256 entries)", async () => {
    const rng = new Rng(5);
    const partials = Float32Array.from({ length: 128 }, () => Math.abs(rng.normal()));
    const xs = [100_003, 40_000, 7].map((n) => Float32Array.from({ length: n }, () => rng.normal()));
    const slots = async (backend: "cpu" | "webgpu") => {
      await initBackend(backend);
      registerOptimizerKernels();
      const inputs: tf.NamedTensorMap = { partials: tf.tensor(partials) };
      xs.forEach((x, g) => (inputs[`x${g}`] = tf.tensor(x)));
      const out = tf.engine().runKernel(SQUARED_SUM, inputs) as tf.Tensor;
      const values = (await out.data()) as Float32Array;
      tf.dispose([out, ...Object.values(inputs)]);
      return values;
    };
    const want = await slots("cpu");
    const got = await slots("webgpu");
    expect(got.length).toBe(128);
    want.forEach((w, slot) => expect(Math.abs(got[slot]! - w) / w, `slot ${slot}`).toBeLessThan(1e-5));
  });

  it.runIf(probe.ok)("webgpu squared norm of one gradient ≡ the float64 sum at 1, 255, 256, 257 and 100,003 entries", async () => {
    await initBackend("webgpu");
    const rng = new Rng(7);
    for (const n of [1, 255, 256, 257, 100_003]) {
      const x = Float32Array.from({ length: n }, () => rng.normal());
      let want = 0;
      for (const v of x) want += v * v;
      const t = tf.tensor(x);
      const s = squaredGlobalNorm([t]);
      const got = (await s.data())[0]!;
      tf.dispose([t, s]);
      expect(Math.abs(got - want) / want, `n = ${n}`).toBeLessThan(1e-5);
    }
  });
});
