// Helpers of the models' tests (left out of the build by tsconfig.json, like the tests that import them). The generic
// contract — chunked ≡ stepwise, streaming ≡ forward, seeded init, parameter count — comes from @selectiv/core/testkit
// (describeModelContract, one call per model); `modelTests(definition)` binds what the model-specific tests share:
// layers with edited weights, the plain-JS reference readings, the parameter figures, the init and the registration.
import "reflect-metadata";
import { container as rootContainer } from "tsyringe";
import { expect } from "vitest";
import {
  ParameterStore,
  Rng,
  Tokens,
  createSelectivContainer,
  headsForWidth,
  tf,
  type ComputeForm,
  type Config,
  type LayerState,
  type ModelDefinition,
  type ModelRegistry,
  type SequenceLayer,
  type TransitionKind,
} from "@selectiv/core";
import { WIDER_LAYER, checkParameterCount, contractConfig, withKernels } from "@selectiv/core/testkit";

export { withKernels };
import { registerModels } from "../index.js";

export const VALUE_TOLERANCE = 1e-5;
export const GRADIENT_TOLERANCE = 1e-4;

/** Standard-normal values from `rng`, times `scale`. */
export function randomTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = scale * rng.normal();
  return tf.tensor(values, shape);
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relativeDiff(a: tf.Tensor, reference: tf.Tensor): number {
  return tf.tidy(() => {
    const scale = tf.max(tf.abs(reference)).dataSync()[0]!;
    return tf.max(tf.abs(tf.sub(a, reference))).dataSync()[0]! / Math.max(scale, 1e-30);
  });
}

/** Whether every element of x is finite. */
export function allFinite(x: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);
}

/** max |x|. */
export function maxAbs(x: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]!);
}

/** Relative differences between the chunked and stepwise forms (see TestLayer.compareForms). */
export interface FormComparison {
  output: number;
  /** By parameter name inside the layer, and "input". */
  gradients: Map<string, number>;
  finite: boolean;
}

/** A layer built for a test, its parameters under "layer." in their own store; `param` names omit the prefix. */
export class TestLayer<L extends SequenceLayer = SequenceLayer> {
  constructor(
    readonly store: ParameterStore,
    readonly layer: L,
    readonly dModel: number,
  ) {}

  /** The parameter `name` inside the layer, e.g. "q_proj.weight". */
  param(name: string): tf.Variable {
    const found = this.store.entries().find(([n]) => n === `layer.${name}`);
    if (!found) throw new Error(`no parameter layer.${name}; have ${this.store.names.join(", ")}`);
    return found[1];
  }

  /** A parameter's values, for the plain-JS readings. */
  readonly values = (name: string): number[] => Array.from(this.param(name).dataSync());

  /** Sets a weight to 1 + 0.5·N(0, 1), so that its layout matters in a reference check (norm weights, D). */
  perturbAroundOne(name: string, seed = 4): void {
    const v = this.param(name);
    v.assign(tf.add(1, randomTensor(new Rng(seed), v.shape, 0.5)));
  }

  /** The reference checks' input x [1, T, d] (B = 1). */
  referenceInput(t: number): tf.Tensor3D {
    return randomTensor(new Rng(5), [1, t, this.dModel]) as tf.Tensor3D;
  }

  /** Both forms on x [1, T, d] (or referenceInput(T)) give the plain-JS `reference` of x's rows (VALUE_TOLERANCE). */
  expectMatchesReference(x: tf.Tensor3D | number, reference: (xs: number[][]) => number[][]): void {
    const input = typeof x === "number" ? this.referenceInput(x) : x;
    const expected = tf.tensor([reference((input.arraySync() as number[][][])[0]!)]);
    for (const form of ["chunked", "stepwise"] as const) {
      expect(relativeDiff(this.layer.forward(input, { training: false, form }), expected), form).toBeLessThan(VALUE_TOLERANCE);
    }
    expected.dispose();
  }

  /**
   * Loss = Σ w ⊙ y with fixed, distinct weights, and its gradients by parameter name (and "input"). A layer with
   * dropout draws its mask from `dropoutSeed`.
   */
  valueAndGradients(x: tf.Variable, form: ComputeForm, dropoutSeed?: number): { output: tf.Tensor; grads: Map<string, tf.Tensor> } {
    let output: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const y = this.layer.forward(x as unknown as tf.Tensor3D, { training: true, form, dropoutSeed });
      output = tf.keep(y);
      const weights = tf.sin(tf.mul(tf.range(0, y.size).reshape(y.shape), 0.37));
      return tf.sum(tf.mul(y, weights)) as tf.Scalar;
    }, [...this.store.variables, x]);
    value.dispose();
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of this.store.entries()) if (grads[v.name]) byName.set(name.replace(/^layer\./, ""), grads[v.name]!);
    if (grads[x.name]) byName.set("input", grads[x.name]!);
    return { output: output!, grads: byName };
  }

  /**
   * The chunked and stepwise forms of this (possibly edited) layer on x: outputs and the gradients w.r.t. every
   * parameter and the input. Each gradient is compared at its own scale, floored at `gradientFloor` times the
   * largest gradient (for gradients that are exactly 0 in the oracle). With dropout, both forms use the mask of
   * `dropoutSeed`.
   */
  compareForms(x: tf.Variable, gradientFloor = 0, dropoutSeed?: number): FormComparison {
    const chunked = this.valueAndGradients(x, "chunked", dropoutSeed);
    const stepwise = this.valueAndGradients(x, "stepwise", dropoutSeed);
    const names = [...this.store.names.map((name) => name.replace(/^layer\./, "")), "input"];
    expect([...chunked.grads.keys()].sort()).toEqual([...names].sort());
    expect([...stepwise.grads.keys()].sort()).toEqual([...names].sort());
    const largest = Math.max(...names.map((name) => maxAbs(stepwise.grads.get(name)!)));
    let finite = allFinite(chunked.output) && allFinite(stepwise.output);
    const gradients = new Map<string, number>();
    for (const name of names) {
      const [g, reference] = [chunked.grads.get(name)!, stepwise.grads.get(name)!];
      finite &&= allFinite(g) && allFinite(reference);
      const scale = Math.max(maxAbs(reference), gradientFloor * largest, 1e-30);
      gradients.set(name, maxAbs(tf.sub(g, reference)) / scale);
    }
    const output = relativeDiff(chunked.output, stepwise.output);
    tf.dispose([chunked.output, stepwise.output, ...chunked.grads.values(), ...stepwise.grads.values()]);
    return { output, gradients, finite };
  }

  /** compareForms: finite, outputs within VALUE_TOLERANCE, gradients within GRADIENT_TOLERANCE or `looser[name]`. */
  expectFormsAgree(
    x: tf.Variable,
    options: { gradientFloor?: number; looser?: Readonly<Record<string, number>>; dropoutSeed?: number } = {},
  ): void {
    const r = this.compareForms(x, options.gradientFloor, options.dropoutSeed);
    expect(r.finite).toBe(true);
    expect(r.output).toBeLessThan(VALUE_TOLERANCE);
    for (const [name, diff] of r.gradients) expect(diff, name).toBeLessThan(options.looser?.[name] ?? GRADIENT_TOLERANCE);
  }

  /** Streams x [B, T, d] from initialState: the outputs stacked [B, T, d] and the final state. */
  stream(x: tf.Tensor3D): { output: tf.Tensor3D; state: LayerState } {
    const [b, t, d] = x.shape;
    let state = this.layer.initialState(b);
    const steps: tf.Tensor2D[] = [];
    for (let i = 0; i < t; i++) {
      const r = this.layer.step(tf.reshape(tf.slice(x, [0, i, 0], [b, 1, d]), [b, d]), state);
      state.forEach((s) => s.dispose());
      state = r.state;
      steps.push(r.y);
    }
    return { output: tf.stack(steps, 1) as tf.Tensor3D, state };
  }

  dispose(): void {
    this.store.dispose();
  }
}

export interface InitExpectations<C extends Config> {
  /** Parameters (names inside the layer) with a constant init, and the constant. */
  readonly constants?: Readonly<Record<string, number>>;
  /** Other parameters that do not depend on the seed (inits by index only). */
  readonly deterministic?: readonly string[];
  /** Upper bounds of max |w|, e.g. PyTorch's default U(±1/√fan_in). */
  readonly bounds?: Readonly<Record<string, number>>;
  readonly overrides?: Partial<C>;
}

/** The tests every built-in model shares, bound to its definition. */
export interface ModelTests<C extends Config, L extends SequenceLayer> {
  readonly definition: ModelDefinition<C>;
  /** A layer with the defaults and `overrides`, in a store seeded `seed`. */
  build(d: number, heads: number, seed: number, overrides?: Partial<C>, dropout?: number): TestLayer<L>;
  /**
   * The init at width d with `heads`: seeds s and s + 1 give different values for every parameter except the
   * constant and deterministic ones; constants have their value; bounded weights stay in bounds. (The kit checks
   * that one seed gives identical weights twice.)
   */
  expectInit(size: { d: number; heads: number }, e: InitExpectations<C>): void;
  /** parametersPerLayer(d, 4, defaults) = closedForm(d, 4) = the parameters created, at d = 16, 64, 256 (H = 4). */
  expectParameterClosedForm(closedForm: (d: number, heads: number) => number): void;
  /** parametersPerLayer follows each option: it equals the parameters created at d = 32, H = 4. */
  expectParameterCountsFollow(overrides: readonly Partial<C>[]): void;
  /** At the paper's d = 256, H = 4 with the defaults: parametersPerLayer (the §7.2 figure) and taxonomy.stateSize. */
  expectFiguresAt256(figures: { perLayer: number; stateSize: number }): void;
  /** Building a layer at width d with `heads` throws a one-line error matching `message`. */
  expectRejectsWidth(d: number, heads: number, message: RegExp): void;
  /** registerModels puts the definition in the model registry, with its transition kind and defaults. */
  expectRegistered(transition: TransitionKind): void;
}

/** The built-in model `id` as the model registry holds it after registerModels (a fresh selectiv container). */
export function builtInModel(id: string): ModelDefinition {
  const c = createSelectivContainer(rootContainer);
  registerModels(c);
  return c.resolve<ModelRegistry>(Tokens.ModelRegistry).get(id);
}

export function modelTests<C extends Config, L extends SequenceLayer>(definition: ModelDefinition<C>): ModelTests<C, L> {
  const build = (d: number, heads: number, seed: number, overrides: Partial<C> = {}, dropout = 0): TestLayer<L> => {
    const store = new ParameterStore(seed);
    const config = { ...definition.defaults, ...overrides } as C;
    const layer = definition.createLayer({ dModel: d, heads, layerIndex: 0, params: store.scope("layer"), dropout }, config);
    return new TestLayer(store, layer as L, d);
  };
  return {
    definition,
    build,
    expectInit(size, e) {
      const constants = e.constants ?? {};
      const [a, b] = [build(size.d, size.heads, 123, e.overrides), build(size.d, size.heads, 124, e.overrides)];
      const same = a.store.names
        .map((name) => name.replace(/^layer\./, ""))
        .filter((name) => relativeDiff(b.param(name), a.param(name)) === 0);
      expect(same.sort()).toEqual([...Object.keys(constants), ...(e.deterministic ?? [])].sort());
      for (const [name, value] of Object.entries(constants)) {
        expect(Array.from(a.param(name).dataSync()), name).toEqual(new Array<number>(a.param(name).size).fill(value));
      }
      for (const [name, bound] of Object.entries(e.bounds ?? {})) expect(maxAbs(a.param(name)), name).toBeLessThanOrEqual(bound);
      a.dispose();
      b.dispose();
    },
    expectParameterClosedForm(closedForm) {
      for (const d of [16, 64, 256]) {
        const heads = headsForWidth(d);
        expect(heads).toBe(4);
        expect(definition.parametersPerLayer(d, heads, definition.defaults)).toBe(closedForm(d, heads));
        checkParameterCount(definition, definition.defaults, { dModel: d, heads });
      }
    },
    expectParameterCountsFollow(overrides) {
      for (const o of overrides) checkParameterCount(definition, contractConfig(definition, o), WIDER_LAYER);
    },
    expectFiguresAt256({ perLayer, stateSize }) {
      expect(definition.parametersPerLayer(256, 4, definition.defaults)).toBe(perLayer);
      expect(definition.taxonomy.stateSize(256, 4)).toBe(stateSize);
    },
    expectRejectsWidth(d, heads, message) {
      expect(() => build(d, heads, 1)).toThrow(message);
    },
    expectRegistered(transition) {
      const registered = builtInModel(definition.id);
      expect(registered.taxonomy.transition).toBe(transition);
      expect(registered.defaults).toEqual(definition.defaults);
    },
  };
}

/**
 * The forget gate of Gated DeltaNet / DeltaProduct (shared/forget-gate.ts, docs/spec/MODELS.md §3.4) in a built layer at
 * d = 64, H = 16: A = exp(A_log) ∈ (0, 16] and softplus(dt_bias) ∈ [1e-3, 0.1], so α ≈ exp(−A·dt₀) ∈ (0, 1).
 */
export function expectForgetGateInitRanges(tests: ModelTests<Config, SequenceLayer>): void {
  const built = tests.build(64, 16, 9);
  const a = built.values("A_log").map(Math.exp);
  const dt = built.values("dt_bias").map((b) => Math.log1p(Math.exp(b)));
  expect(a.length).toBe(16);
  for (const z of a) expect(z > 0 && z <= 16.0001).toBe(true);
  for (const z of dt) expect(z >= 1e-3 * 0.999 && z <= 0.1 * 1.001).toBe(true);
  built.dispose();
}

/** Building blocks of the plain-JS reference readings (numbers, B = 1, row-major [in, out] weights). */
export const plain = {
  sigmoid: (z: number): number => 1 / (1 + Math.exp(-z)),
  silu: (z: number): number => z / (1 + Math.exp(-z)),
  softplus: (z: number): number => Math.log1p(Math.exp(z)),
  /** x W (+ b) for W stored [in, out]. */
  linear(x: number[], w: number[], out: number, bias?: number[]): number[] {
    return Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, bias ? bias[j]! : 0));
  },
  /** fla's l2norm: u / sqrt(Σu² + 1e-6). */
  l2(u: number[]): number[] {
    const r = Math.sqrt(u.reduce((s, z) => s + z * z, 0) + 1e-6);
    return u.map((z) => z / r);
  },
  /** u / sqrt(mean u² + 1e-5) ⊙ w. */
  rmsNorm(u: number[], w: number[]): number[] {
    const rms = Math.sqrt(u.reduce((s, z) => s + z * z, 0) / u.length + 1e-5);
    return u.map((z, j) => (z / rms) * w[j]!);
  },
  /** The fla input paths of names (q, k, v): x W_{name}_proj → causal depthwise conv {name}_conv1d → SiLU. */
  convPaths(p: (name: string) => number[], xs: number[][], widths: Readonly<Record<string, number>>): number[][][] {
    return Object.entries(widths).map(([name, width]) =>
      plain.shortConvSilu(
        xs.map((x) => plain.linear(x, p(`${name}_proj.weight`), width)),
        p(`${name}_conv1d.weight`),
        width,
      ),
    );
  },
  /** `count` zero matrices [rows][cols] (per-head states). */
  zeroStates(count: number, rows: number, cols: number): number[][][] {
    return Array.from({ length: count }, () => Array.from({ length: rows }, () => new Array<number>(cols).fill(0)));
  },
  /** Causal depthwise conv, K taps stored [K, C] (tap K−1 on the current step), no bias, then SiLU. */
  shortConvSilu(seq: number[][], w: number[], channels: number, taps = 4): number[][] {
    return seq.map((_, t) =>
      Array.from({ length: channels }, (_, c) => {
        let s = 0;
        for (let j = 0; j < taps; j++) {
          const tau = t - (taps - 1) + j;
          if (tau >= 0) s += w[j * channels + c]! * seq[tau]![c]!;
        }
        return plain.silu(s);
      }),
    );
  },
};
