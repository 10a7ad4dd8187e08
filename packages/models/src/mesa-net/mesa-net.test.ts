import "reflect-metadata";
import { container } from "tsyringe";
import { afterAll, describe, expect, it } from "vitest";
import {
  ParameterStore,
  RecNet,
  Rng,
  Tokens,
  createSelectivContainer,
  headsForWidth,
  tf,
  type ComputeForm,
  type ModelRegistry,
} from "@selectiv/core";
import { registerModels } from "../index.js";
import { mesaNetDefaults, type MesaNetConfig } from "./config.js";
import { mesaNetDefinition } from "./definition.js";
import { fusedMesaRecurrence } from "./fused-mesa.js";
import type { MesaNet } from "./layer.js";
import { conjugateGradient, mesaParallel, mesaStepwise, type MesaInputs } from "./recurrence.js";

const VALUE_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;

function randomTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = scale * rng.normal();
  return tf.tensor(values, shape);
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
function relativeDiff(a: tf.Tensor, reference: tf.Tensor): number {
  return tf.tidy(() => {
    const scale = tf.max(tf.abs(reference)).dataSync()[0]!;
    return tf.max(tf.abs(tf.sub(a, reference))).dataSync()[0]! / Math.max(scale, 1e-30);
  });
}

function allFinite(x: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);
}

interface Built {
  store: ParameterStore;
  layer: MesaNet;
}

function buildLayer(d: number, heads: number, seed: number, overrides: Partial<MesaNetConfig> = {}): Built {
  const store = new ParameterStore(seed);
  const config = { ...mesaNetDefaults, ...overrides } as MesaNetConfig;
  const layer = mesaNetDefinition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer"), dropout: 0 }, config);
  return { store, layer: layer as MesaNet };
}

function variable(store: ParameterStore, name: string): tf.Variable {
  const found = store.entries().find(([n]) => n === name);
  if (!found) throw new Error(`no parameter ${name}; have ${store.names.join(", ")}`);
  return found[1];
}

/** Loss = Σ w ⊙ y with fixed, distinct weights, and its gradients w.r.t. every layer variable and the input. */
function valueAndGradients(built: Built, x: tf.Variable, form: ComputeForm): { output: tf.Tensor; grads: Record<string, tf.Tensor> } {
  let output: tf.Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    const y = built.layer.forward(x as unknown as tf.Tensor3D, { training: true, form });
    output = tf.keep(y);
    const weights = tf.sin(tf.mul(tf.range(0, y.size).reshape(y.shape), 0.37));
    return tf.sum(tf.mul(y, weights)) as tf.Scalar;
  }, [...built.store.variables, x]);
  return { output: output!, grads };
}

interface Comparison {
  output: number;
  gradient: number;
  finite: boolean;
}

function compareForms(built: Built, x: tf.Variable): Comparison {
  const fused = valueAndGradients(built, x, "chunked");
  const stepwise = valueAndGradients(built, x, "stepwise");
  let gradient = 0;
  let finite = allFinite(fused.output) && allFinite(stepwise.output);
  const names = Object.keys(stepwise.grads);
  expect(names.length).toBe(built.store.variables.length + 1);
  expect(Object.keys(fused.grads).sort()).toEqual([...names].sort());
  for (const name of names) {
    const g = fused.grads[name]!;
    finite &&= allFinite(g) && allFinite(stepwise.grads[name]!);
    gradient = Math.max(gradient, relativeDiff(g, stepwise.grads[name]!));
  }
  const output = relativeDiff(fused.output, stepwise.output);
  tf.dispose([fused.output, stepwise.output, ...Object.values(fused.grads), ...Object.values(stepwise.grads)]);
  return { output, gradient, finite };
}

const observed = { output: 0, gradient: 0, streaming: 0, reference: 0 };
afterAll(() => {
  const e = (n: number) => n.toExponential(2);
  console.log(
    `MesaNet max relative differences: fused vs stepwise output ${e(observed.output)}, gradient ${e(observed.gradient)}; streaming ${e(observed.streaming)}; plain-JS reference ${e(observed.reference)}`,
  );
});

function expectAgreement(r: Comparison): void {
  observed.output = Math.max(observed.output, r.output);
  observed.gradient = Math.max(observed.gradient, r.gradient);
  expect(r.finite).toBe(true);
  expect(r.output).toBeLessThan(VALUE_TOLERANCE);
  expect(r.gradient).toBeLessThan(GRADIENT_TOLERANCE);
}

/** Runs `body` with the training form's kernel choice forced ("fused": the CPU kernel, "ops": the parallel form). */
function withKernels(kernels: "fused" | "ops", body: () => void): void {
  const saved = process.env.SELECTIV_KERNELS;
  process.env.SELECTIV_KERNELS = kernels;
  try {
    body();
  } finally {
    if (saved === undefined) delete process.env.SELECTIV_KERNELS;
    else process.env.SELECTIV_KERNELS = saved;
  }
}

describe("MesaNet layer (models.md §3.6): fused kernel (training form) ≡ stepwise oracle (unrolled CG in TF ops)", () => {
  const [d, heads] = [16, 2];
  for (const t of [37, 16, 5, 1]) {
    it(`T=${t}: outputs and gradients (all parameters and the input) agree`, () => {
      const built = buildLayer(d, heads, 11 + t);
      const x = tf.variable(randomTensor(new Rng(500 + t), [2, t, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    });
  }

  for (const t of [37, 5]) {
    it(`T=${t}, the parallel form (GPU backends): outputs and gradients agree`, () => {
      withKernels("ops", () => {
        const built = buildLayer(d, heads, 21 + t);
        const x = tf.variable(randomTensor(new Rng(600 + t), [2, t, d]));
        expectAgreement(compareForms(built, x));
        built.store.dispose();
        x.dispose();
      });
    });
  }

  it("extreme gates: α → 1 (a logits +30, G piles up), α → 0 (−30), β → 0 (−30): finite and agreeing, both training forms", () => {
    for (const kernels of ["fused", "ops"] as const) withKernels(kernels, extremeGates);
  });

  function extremeGates(): void {
    for (const [aBias, bBias] of [
      [30, 30],
      [-30, 30],
      [0, -30],
    ]) {
      const built = buildLayer(d, heads, 5);
      const a = variable(built.store, "layer.a_proj.bias");
      a.assign(tf.fill(a.shape, aBias!));
      const b = variable(built.store, "layer.b_proj.bias");
      b.assign(tf.fill(b.shape, bBias!));
      const x = tf.variable(randomTensor(new Rng(9), [2, 20, d]));
      expectAgreement(compareForms(built, x));
      built.store.dispose();
      x.dispose();
    }
  }

  it("unconverged CG (3 steps, λ down to 0.05): the fused gradient is still the unrolled one", () => {
    const built = buildLayer(d, heads, 6, { cgSteps: 3, lambdaLowerBound: 0, lambdaInit: 0.05 });
    const a = variable(built.store, "layer.a_proj.bias");
    a.assign(tf.fill(a.shape, 4));
    const x = tf.variable(randomTensor(new Rng(10), [2, 20, d]));
    expectAgreement(compareForms(built, x));
    built.store.dispose();
    x.dispose();
  });
});

/** Random recurrence inputs: L2-normalised q, k; log α ∈ (−1, 0); β ∈ (0, 1); λ ∈ (0.25, 1.25). */
function randomInputs(rng: Rng, b: number, h: number, t: number, dk: number, dv: number, decayScale = 1): MesaInputs {
  const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, "euclidean", 3, true));
  return {
    query: unit(randomTensor(rng, [b, h, t, dk])) as tf.Tensor4D,
    key: unit(randomTensor(rng, [b, h, t, dk])) as tf.Tensor4D,
    value: randomTensor(rng, [b, h, t, dv]) as tf.Tensor4D,
    logAlpha: tf.mul(tf.neg(tf.sigmoid(randomTensor(rng, [b, h, t]))), decayScale) as tf.Tensor3D,
    beta: tf.sigmoid(randomTensor(rng, [b, h, t])) as tf.Tensor3D,
    lambda: tf.add(0.25, tf.sigmoid(randomTensor(rng, [h, dk]))) as tf.Tensor2D,
  };
}

/** Values and gradients w.r.t. q, k, v, log α, β, λ of `form` against the stepwise oracle. */
function expectMatchesStepwise(
  form: (i: MesaInputs, steps: number) => tf.Tensor4D,
  [b, h, t, dk, dv]: readonly number[],
  seed: number,
): void {
  tf.tidy(() => {
    const inputs = randomInputs(new Rng(seed), b!, h!, t!, dk!, dv!);
    const weights = randomTensor(new Rng(seed + 1), [b!, h!, t!, dv!]);
    const order = [inputs.query, inputs.key, inputs.value, inputs.logAlpha, inputs.beta, inputs.lambda];
    const loss =
      (f: (i: MesaInputs, steps: number) => tf.Tensor4D) =>
      (...xs: tf.Tensor[]) =>
        tf.sum(
          tf.mul(
            f(
              {
                query: xs[0] as tf.Tensor4D,
                key: xs[1] as tf.Tensor4D,
                value: xs[2] as tf.Tensor4D,
                logAlpha: xs[3] as tf.Tensor3D,
                beta: xs[4] as tf.Tensor3D,
                lambda: xs[5] as tf.Tensor2D,
              },
              30,
            ),
            weights,
          ),
        );
    const expected = tf.grads(loss(mesaStepwise))(order);
    const actual = tf.grads(loss(form))(order);
    expect(relativeDiff(form(inputs, 30), mesaStepwise(inputs, 30))).toBeLessThan(VALUE_TOLERANCE);
    for (let i = 0; i < order.length; i++) {
      expect(allFinite(actual[i]!)).toBe(true);
      expect(relativeDiff(actual[i]!, expected[i]!)).toBeLessThan(GRADIENT_TOLERANCE);
    }
  });
}

describe("MesaNet parallel form (GPU backends) ≡ stepwise oracle", () => {
  for (const size of [
    [1, 1, 1, 4, 4],
    [2, 2, 7, 5, 3],
    [1, 3, 33, 8, 6],
  ] as const) {
    it(`[B, H, T, d_k, d_v] = [${size.join(", ")}]: values and gradients w.r.t. q, k, v, log α, β, λ`, () => {
      expectMatchesStepwise(mesaParallel, size, 11 + size[2]);
    });
  }

  // Long sequences run in query blocks; here blocks of 7 and 10 make several, with a shorter last one.
  for (const [size, block, decayScale] of [
    [[2, 2, 23, 5, 3], 7, 1],
    [[1, 3, 33, 8, 6], 10, 1],
    [[1, 2, 30, 4, 4], 7, 30],
  ] as const) {
    it(`in blocks of ${block}, [B, H, T, d_k, d_v] = [${size.join(", ")}], log α down to −${decayScale}: values and gradients`, () => {
      expectMatchesStepwise((i, steps) => mesaParallel(i, steps, block), size, 31 + size[2], decayScale);
    });
  }
});

describe("MesaNet fused kernel alone", () => {
  it("d_k ≠ d_v, T = 40 (two backward segments): values and gradients w.r.t. q, k, v, log α, β, λ equal the oracle's", () => {
    expectMatchesStepwise(fusedMesaRecurrence, [2, 2, 40, 5, 3], 4);
  });

  it("30 CG steps solve (G + Diag λ) x = q to about 1e-4 (the +1e-5 damping slows the last digits, §9.4)", () => {
    const [b, h, dk, t] = [1, 2, 8, 12];
    const rng = new Rng(6);
    const keys = randomTensor(rng, [b, h, t, dk]);
    // G = Σ_t k_t k_tᵀ (α = β = 1), λ = 1.
    const g = tf.matMul(keys, keys, true, false) as tf.Tensor4D;
    const lambda = tf.ones([h, dk]) as tf.Tensor2D;
    const q = randomTensor(rng, [b, h, dk]) as tf.Tensor3D;
    const x = conjugateGradient(g, lambda, q, 30);
    const applied = tf.add(tf.sum(tf.mul(g, tf.reshape(x, [b, h, 1, dk])), 3), x);
    expect(relativeDiff(applied, q)).toBeLessThan(1e-3);
    // Far from the starting point x = 0 (relative residual 1) and from a few steps (relative residual ≫ 1e-3).
    const fewSteps = conjugateGradient(g, lambda, q, 3);
    expect(relativeDiff(tf.add(tf.sum(tf.mul(g, tf.reshape(fewSteps, [b, h, 1, dk])), 3), fewSteps), q)).toBeGreaterThan(1e-2);
  });
});

describe("MesaNet layer: streaming", () => {
  it("initialState + step for every t equals forward", () => {
    const [d, heads, b, t] = [16, 2, 3, 21];
    const built = buildLayer(d, heads, 42);
    const x = randomTensor(new Rng(43), [b, t, d]) as tf.Tensor3D;
    const full = built.layer.forward(x, { training: false });
    let state = built.layer.initialState(b);
    const steps: tf.Tensor2D[] = [];
    for (let i = 0; i < t; i++) {
      const xt = tf.reshape(tf.slice(x, [0, i, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
      const r = built.layer.step(xt, state);
      state.forEach((s) => s.dispose());
      state = r.state;
      steps.push(r.y);
    }
    const streamed = tf.stack(steps, 1);
    const diff = relativeDiff(streamed, full);
    observed.streaming = Math.max(observed.streaming, diff);
    expect(streamed.shape).toEqual(full.shape);
    expect(diff).toBeLessThan(VALUE_TOLERANCE);
    // Constant memory: q/k conv windows, G and M, the same shapes after T steps.
    expect(state.map((s) => s.shape)).toEqual([
      [b, 3, d],
      [b, 3, d],
      [b, heads, 8, 8],
      [b, heads, 8, 8],
    ]);
    built.store.dispose();
  });
});

/**
 * An independent plain-JS reading of §3.6 for B = 1, from the parameter values: projections, conv + SiLU on q and
 * k, L2 norms, α = σ(a), β = σ(b), λ = softplus(lambda_params) + 0.25, G and M updates, 30 CG steps from 0 with
 * +1e-5 in the denominators, o = Mᵀq*, RMSNorm per head, o_proj.
 */
function referenceForward(store: ParameterStore, xs: number[][], d: number, heads: number): number[][] {
  const p = (name: string) => Array.from(variable(store, `layer.${name}`).dataSync());
  const linear = (x: number[], w: number[], out: number, bias?: number[]) =>
    Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, bias ? bias[j]! : 0));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const dk = d / heads;
  const convolve = (seq: number[][], w: number[]) =>
    seq.map((_, t) =>
      Array.from({ length: d }, (_, c) => {
        let s = 0;
        for (let j = 0; j < 4; j++) if (t - 3 + j >= 0) s += w[j * d + c]! * seq[t - 3 + j]![c]!;
        return s * sig(s);
      }),
    );
  const q = convolve(
    xs.map((x) => linear(x, p("q_proj.weight"), d)),
    p("q_conv1d.weight"),
  );
  const k = convolve(
    xs.map((x) => linear(x, p("k_proj.weight"), d)),
    p("k_conv1d.weight"),
  );
  const lambda = p("lambda_params").map((z) => Math.log1p(Math.exp(z)) + 0.25);
  const normWeight = p("o_norm.weight");
  const zeros = () => Array.from({ length: dk }, () => new Array<number>(dk).fill(0));
  const g = Array.from({ length: heads }, zeros);
  const m = Array.from({ length: heads }, zeros);
  const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * b[i]!, 0);
  const unit = (a: number[]) => a.map((ai) => ai / Math.sqrt(dot(a, a) + 1e-6));
  return xs.map((x, t) => {
    const v = linear(x, p("v_proj.weight"), d);
    const a = linear(x, p("a_proj.weight"), heads, p("a_proj.bias"));
    const b = linear(x, p("b_proj.weight"), heads, p("b_proj.bias"));
    const merged: number[] = [];
    for (let h = 0; h < heads; h++) {
      const [alpha, beta] = [sig(a[h]!), sig(b[h]!)];
      const qh = unit(q[t]!.slice(h * dk, (h + 1) * dk));
      const kh = unit(k[t]!.slice(h * dk, (h + 1) * dk));
      const vh = v.slice(h * dk, (h + 1) * dk);
      for (let i = 0; i < dk; i++) {
        for (let j = 0; j < dk; j++) {
          g[h]![i]![j] = alpha * g[h]![i]![j]! + beta * kh[i]! * kh[j]!;
          m[h]![i]![j] = alpha * m[h]![i]![j]! + beta * kh[i]! * vh[j]!;
        }
      }
      const apply = (vec: number[]) => vec.map((_, i) => dot(g[h]![i]!, vec) + lambda[h * dk + i]! * vec[i]!);
      let sol = new Array<number>(dk).fill(0);
      let r = [...qh];
      let dir = [...qh];
      let delta = dot(r, r);
      for (let it = 0; it < 30; it++) {
        const w = apply(dir);
        const step = delta / (dot(dir, w) + 1e-5);
        sol = sol.map((s, i) => s + step * dir[i]!);
        r = r.map((ri, i) => ri - step * w[i]!);
        const next = dot(r, r);
        dir = r.map((ri, i) => ri + (next / (delta + 1e-5)) * dir[i]!);
        delta = next;
      }
      const o = Array.from({ length: dk }, (_, j) => sol.reduce((s, si, i) => s + si * m[h]![i]![j]!, 0));
      const rms = Math.sqrt(dot(o, o) / dk + 1e-5);
      merged.push(...o.map((oj, j) => (oj / rms) * normWeight[j]!));
    }
    return linear(merged, p("o_proj.weight"), d);
  });
}

describe("MesaNet layer: values match a plain-JS reading of §3.6", () => {
  it("d=8, H=2, T=7 (random norm weight), both forms", () => {
    const [d, heads, t] = [8, 2, 7];
    const built = buildLayer(d, heads, 3);
    const norm = variable(built.store, "layer.o_norm.weight");
    norm.assign(tf.add(1, randomTensor(new Rng(4), norm.shape, 0.5)));
    const x = randomTensor(new Rng(5), [1, t, d]) as tf.Tensor3D;
    const xs = (x.arraySync() as number[][][])[0]!;
    const expected = tf.tensor([referenceForward(built.store, xs, d, heads)]);
    for (const form of ["chunked", "stepwise"] as const) {
      const diff = relativeDiff(built.layer.forward(x, { training: false, form }), expected);
      observed.reference = Math.max(observed.reference, diff);
      expect(diff).toBeLessThan(VALUE_TOLERANCE);
    }
    built.store.dispose();
  });
});

describe("MesaNet parameters (models.md §3.6, §7)", () => {
  for (const d of [16, 64, 256]) {
    it(`d=${d}: store count = parametersPerLayer = 4d² + 2dH + 2H + 9d + d/H`, () => {
      const heads = headsForWidth(d);
      expect(heads).toBe(4);
      const built = buildLayer(d, heads, 1);
      const closedForm = 4 * d * d + 2 * d * heads + 2 * heads + 9 * d + d / heads;
      expect(mesaNetDefinition.parametersPerLayer(d, heads, mesaNetDefaults)).toBe(closedForm);
      expect(built.store.count()).toBe(closedForm);
      built.store.dispose();
    });
  }

  it("the general formula follows the conv size", () => {
    const config = { ...mesaNetDefaults, convSize: 2 };
    const built = buildLayer(32, 4, 1, config);
    expect(built.store.count()).toBe(mesaNetDefinition.parametersPerLayer(32, 4, config));
    built.store.dispose();
  });

  it("the per-layer breakdown at d = 256 matches §7.2 (266,568) and the RecNet total is 2,558,849", () => {
    expect(mesaNetDefinition.parametersPerLayer(256, 4, mesaNetDefaults)).toBe(266_568);
    const net = new RecNet(
      mesaNetDefinition,
      mesaNetDefaults,
      { inputSize: 41, numClasses: 1601, width: 256, layers: 8, heads: 4, dropout: 0.2 },
      0,
    );
    expect(net.parameterCount).toBe(2_558_849);
    net.store.dispose();
  });

  it("stateSize is two d_k × d_k states per head = 2d²/H", () => {
    expect(mesaNetDefinition.taxonomy.stateSize(256, 4)).toBe(2 * 4 * 64 * 64);
  });

  it("rejects widths that do not split into heads, and λ₀ at or below the bound", () => {
    expect(() => buildLayer(18, 4, 1)).toThrow(/divisible by heads/);
    expect(() => buildLayer(16, 4, 1, { lambdaInit: 0.25 })).toThrow(/must exceed/);
  });
});

describe("MesaNet init is deterministic from the seed", () => {
  it("same seed → identical weights; different seed → different random weights; λ starts at 1", () => {
    const a = buildLayer(16, 2, 123);
    const b = buildLayer(16, 2, 123);
    const c = buildLayer(16, 2, 124);
    const constant = new Set(["layer.lambda_params", "layer.o_norm.weight"]);
    for (const [name, v] of a.store.entries()) {
      expect(Array.from(v.dataSync())).toEqual(Array.from(variable(b.store, name).dataSync()));
      expect(relativeDiff(variable(c.store, name), v) > 0).toBe(!constant.has(name));
    }
    // lambda_params = log(e^{0.75} − 1) ≈ 0.1107, so λ = softplus(·) + 0.25 = 1.
    for (const z of variable(a.store, "layer.lambda_params").dataSync()) {
      expect(z).toBeCloseTo(Math.log(Math.expm1(0.75)), 6);
      expect(Math.log1p(Math.exp(z)) + 0.25).toBeCloseTo(1, 6);
    }
    // PyTorch default init: a_proj/b_proj weight and bias U(±1/√d), convs U(±1/2).
    for (const name of ["a_proj.weight", "a_proj.bias", "b_proj.weight", "b_proj.bias"]) {
      expect(tf.max(tf.abs(variable(a.store, `layer.${name}`))).dataSync()[0]!).toBeLessThanOrEqual(0.25);
    }
    expect(tf.max(tf.abs(variable(a.store, "layer.q_conv1d.weight"))).dataSync()[0]!).toBeLessThanOrEqual(0.5);
    for (const built of [a, b, c]) built.store.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts mesa-net in the model registry", () => {
    const c = createSelectivContainer(container);
    registerModels(c);
    const registry = c.resolve<ModelRegistry>(Tokens.ModelRegistry);
    expect(registry.get("mesa-net").taxonomy.transition).toBe("scalar");
    expect(registry.get("mesa-net").defaults).toEqual(mesaNetDefaults);
  });
});
