// The model contract as plain functions: each builds layers from a ModelDefinition, checks one property and
// throws a ContractViolation naming what is wrong. describeModelContract wraps them in test cases; calling them
// directly works in any runner (and shows that they fail on a wrong model).
import { type Config, type FieldSpec, resolveConfig } from "../config.js";
import { isSelectivError } from "../errors.js";
import type { ComputeForm, LayerState, ModelDefinition, SequenceLayer, TransitionKind } from "../model.js";
import { ParameterStore } from "../nn/parameters.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";

/** A model breaks its contract; the message names the model and the property. */
export class ContractViolation extends Error {
  constructor(modelId: string, problem: string) {
    super(`model ${JSON.stringify(modelId)}: ${problem}`);
    this.name = "ContractViolation";
  }
}

export interface LayerSize {
  readonly dModel: number;
  readonly heads: number;
}

/** Small enough to run on a CPU in seconds, with more than one head. */
export const SMALL_LAYER: LayerSize = { dModel: 16, heads: 2 };
export const WIDER_LAYER: LayerSize = { dModel: 32, heads: 4 };

/** Maximum differences relative to the reference's largest magnitude. */
export interface Tolerance {
  readonly value: number;
  readonly gradient: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { value: 1e-5, gradient: 1e-4 };

/**
 * Which implementation the engine's training form uses: "fused" (Float32Array kernels, chosen on CPU-memory
 * backends) or "ops" (chunked TF ops, chosen on GPU backends). Both are checked on the CPU backend.
 */
export type KernelChoice = "fused" | "ops";

export const KERNEL_CHOICES: readonly KernelChoice[] = ["fused", "ops"];

/** The definition's defaults with `overrides` applied, checked by its schema. */
export function contractConfig(definition: ModelDefinition, overrides: Readonly<Record<string, unknown>> = {}): Config {
  return resolveConfig(definition.schema, definition.defaults, overrides, `model ${definition.id}`);
}

interface BuiltLayer {
  readonly store: ParameterStore;
  readonly layer: SequenceLayer;
}

function buildLayer(definition: ModelDefinition, config: Config, size: LayerSize, seed: number): BuiltLayer {
  const store = new ParameterStore(seed);
  try {
    const layer = definition.createLayer({ ...size, layerIndex: 0, params: store.scope("layer"), dropout: 0 }, config);
    return { store, layer };
  } catch (e) {
    store.dispose();
    throw e;
  }
}

/** Runs `body` on a freshly built layer and disposes its parameters afterwards. */
function withLayer<T>(definition: ModelDefinition, config: Config, size: LayerSize, seed: number, body: (built: BuiltLayer) => T): T {
  const built = buildLayer(definition, config, size, seed);
  try {
    return body(built);
  } finally {
    built.store.dispose();
  }
}

/** Runs `body` with the training form's kernel choice forced (SELECTIV_KERNELS), restoring the previous choice after. */
export function withKernels<T>(kernels: KernelChoice, body: () => T): T {
  const saved = process.env.SELECTIV_KERNELS;
  process.env.SELECTIV_KERNELS = kernels;
  try {
    return body();
  } finally {
    if (saved === undefined) delete process.env.SELECTIV_KERNELS;
    else process.env.SELECTIV_KERNELS = saved;
  }
}

function randomInput(seed: number, shape: number[]): tf.Tensor {
  const rng = new Rng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return tf.tensor(values, shape);
}

/** max |a − b| / max |reference|, with a floor so that all-zero references compare absolutely. */
function relativeDifference(a: tf.Tensor, reference: tf.Tensor): number {
  return tf.tidy(() => {
    const scale = tf.max(tf.abs(reference)).dataSync()[0]!;
    return tf.max(tf.abs(tf.sub(a, reference))).dataSync()[0]! / Math.max(scale, 1e-6);
  });
}

function allFinite(x: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);
}

function expectShape(modelId: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((n, i) => n !== expected[i])) {
    throw new ContractViolation(modelId, `${what} has shape [${actual.join(", ")}]; expected [${expected.join(", ")}]`);
  }
}

interface OutputAndGradients {
  readonly output: tf.Tensor;
  /** By parameter name, plus "input". */
  readonly gradients: Map<string, tf.Tensor>;
}

/** The layer's output and the gradients of Σ w ⊙ y (fixed, distinct weights w) w.r.t. every parameter and x. */
function outputAndGradients(built: BuiltLayer, x: tf.Variable, form: ComputeForm): OutputAndGradients {
  let output: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const y = built.layer.forward(x as unknown as tf.Tensor3D, { training: true, form });
    output = tf.keep(y);
    const weights = tf.sin(tf.mul(tf.reshape(tf.range(0, y.size), y.shape), 0.37));
    return tf.sum(tf.mul(y, weights)) as tf.Scalar;
  }, [...built.store.variables, x]);
  value.dispose();
  const gradients = new Map<string, tf.Tensor>();
  for (const [name, variable] of built.store.entries()) {
    const g = grads[variable.name];
    if (g) gradients.set(name, g);
  }
  if (grads[x.name]) gradients.set("input", grads[x.name]!);
  return { output: output!, gradients };
}

export interface EquivalenceCase {
  readonly config: Config;
  /** Sequence length T. */
  readonly length: number;
  readonly kernels: KernelChoice;
  readonly size?: LayerSize;
  readonly batch?: number;
  readonly seed?: number;
  readonly tolerance?: Tolerance;
}

export interface Agreement {
  /** Largest relative difference of the outputs. */
  readonly output: number;
  /** Largest relative difference over the gradients of every parameter and the input. */
  readonly gradient: number;
}

/**
 * The training form (`form: "chunked"`, with the given kernels) equals the stepwise oracle in values and in the
 * gradients w.r.t. every layer parameter and the input; every parameter receives a gradient.
 */
export function checkChunkedMatchesStepwise(definition: ModelDefinition, c: EquivalenceCase): Agreement {
  const { dModel, heads } = c.size ?? SMALL_LAYER;
  const batch = c.batch ?? 2;
  const seed = c.seed ?? 11 + c.length;
  const tolerance = c.tolerance ?? DEFAULT_TOLERANCE;
  const where = `T=${c.length}, ${c.kernels} kernels`;
  return withLayer(definition, c.config, { dModel, heads }, seed, (built) =>
    withKernels(c.kernels, () => {
      const x = tf.variable(randomInput(seed + 1000, [batch, c.length, dModel]));
      try {
        return tf.tidy(() => {
          const chunked = outputAndGradients(built, x, "chunked");
          const stepwise = outputAndGradients(built, x, "stepwise");
          expectShape(definition.id, `forward output (${where})`, chunked.output.shape, [batch, c.length, dModel]);
          expectShape(definition.id, `stepwise output (${where})`, stepwise.output.shape, [batch, c.length, dModel]);
          if (!allFinite(chunked.output) || !allFinite(stepwise.output)) {
            throw new ContractViolation(definition.id, `non-finite output (${where})`);
          }
          const output = relativeDifference(chunked.output, stepwise.output);
          if (!(output <= tolerance.value)) {
            throw new ContractViolation(
              definition.id,
              `chunked and stepwise outputs differ by ${output.toExponential(2)} (relative; tolerance ${tolerance.value}) at ${where}`,
            );
          }
          let gradient = 0;
          for (const name of [...built.store.names, "input"]) {
            const g = chunked.gradients.get(name);
            const reference = stepwise.gradients.get(name);
            if (!g || !reference) {
              const forms = [!g && "chunked", !reference && "stepwise"].filter(Boolean).join(" and ");
              throw new ContractViolation(definition.id, `${name} receives no gradient in the ${forms} form (${where})`);
            }
            if (!allFinite(g) || !allFinite(reference))
              throw new ContractViolation(definition.id, `non-finite gradient of ${name} (${where})`);
            const difference = relativeDifference(g, reference);
            if (!(difference <= tolerance.gradient)) {
              throw new ContractViolation(
                definition.id,
                `gradients of ${name} differ by ${difference.toExponential(2)} between chunked and stepwise (relative; tolerance ${tolerance.gradient}) at ${where}`,
              );
            }
            gradient = Math.max(gradient, difference);
          }
          return { output, gradient };
        });
      } finally {
        x.dispose();
      }
    }),
  );
}

export interface StreamingCase {
  readonly config: Config;
  readonly length?: number;
  readonly size?: LayerSize;
  readonly batch?: number;
  readonly seed?: number;
  readonly tolerance?: Tolerance;
}

/**
 * initialState + step for every t gives forward's output, and the state keeps its shapes (constant memory in T).
 * Returns the largest relative difference.
 */
export function checkStreamingMatchesForward(definition: ModelDefinition, c: StreamingCase): number {
  const { dModel, heads } = c.size ?? SMALL_LAYER;
  const batch = c.batch ?? 2;
  const length = c.length ?? 21;
  const seed = c.seed ?? 42;
  const tolerance = c.tolerance ?? DEFAULT_TOLERANCE;
  return withLayer(definition, c.config, { dModel, heads }, seed, ({ layer }) =>
    tf.tidy(() => {
      const x = randomInput(seed + 1, [batch, length, dModel]) as tf.Tensor3D;
      const full = layer.forward(x, { training: false });
      const initial: LayerState = layer.initialState(batch);
      const stateShapes = initial.map((s) => s.shape.join("×")).join(", ");
      let state = initial;
      const steps: tf.Tensor2D[] = [];
      for (let t = 0; t < length; t++) {
        const xt = tf.reshape(tf.slice(x, [0, t, 0], [batch, 1, dModel]), [batch, dModel]) as tf.Tensor2D;
        const r = layer.step(xt, state);
        expectShape(definition.id, `step output at t=${t}`, r.y.shape, [batch, dModel]);
        const shapes = r.state.map((s) => s.shape.join("×")).join(", ");
        if (shapes !== stateShapes) {
          throw new ContractViolation(definition.id, `the streaming state changes shape at t=${t}: [${stateShapes}] → [${shapes}]`);
        }
        state = r.state;
        steps.push(r.y);
      }
      const streamed = tf.stack(steps, 1);
      const difference = relativeDifference(streamed, full);
      if (!(difference <= tolerance.value)) {
        throw new ContractViolation(
          definition.id,
          `streaming (initialState + step) differs from forward by ${difference.toExponential(2)} (relative; tolerance ${tolerance.value}) at T=${length}`,
        );
      }
      return difference;
    }),
  );
}

export interface SeedCase {
  readonly config: Config;
  readonly size?: LayerSize;
  readonly seed?: number;
}

/** Same seed → identical weights and outputs; the next seed → different weights and outputs. */
export function checkSeedDeterminism(definition: ModelDefinition, c: SeedCase): void {
  const size = c.size ?? SMALL_LAYER;
  const seed = c.seed ?? 7;
  const snapshot = (s: number) =>
    withLayer(definition, c.config, size, s, ({ store, layer }) => ({
      weights: new Map(store.entries().map(([name, v]) => [name, Array.from(v.dataSync())])),
      output: tf.tidy(() => Array.from(layer.forward(randomInput(99, [2, 9, size.dModel]) as tf.Tensor3D, { training: false }).dataSync())),
    }));
  const first = snapshot(seed);
  const again = snapshot(seed);
  const other = snapshot(seed + 1);
  const same = (a: readonly number[], b: readonly number[] | undefined) => !!b && a.length === b.length && a.every((v, i) => v === b[i]);
  const names = [...first.weights.keys()].join(", ");
  if (names !== [...again.weights.keys()].join(", ")) {
    throw new ContractViolation(
      definition.id,
      `seed ${seed} creates different parameters on two builds: [${names}] vs [${[...again.weights.keys()].join(", ")}]`,
    );
  }
  for (const [name, values] of first.weights) {
    if (!same(values, again.weights.get(name))) {
      throw new ContractViolation(
        definition.id,
        `seed ${seed} gives different initial values of ${name} on two builds; initialise from the ParameterScope`,
      );
    }
  }
  if (!same(first.output, again.output)) throw new ContractViolation(definition.id, `seed ${seed} gives different outputs on two builds`);
  if ([...first.weights].every(([name, values]) => same(values, other.weights.get(name)))) {
    throw new ContractViolation(definition.id, `seeds ${seed} and ${seed + 1} give identical weights; the initialisation ignores the seed`);
  }
  if (same(first.output, other.output)) throw new ContractViolation(definition.id, `seeds ${seed} and ${seed + 1} give identical outputs`);
}

/** parametersPerLayer(d, H, config) equals the number of scalars the built layer creates. Returns that number. */
export function checkParameterCount(definition: ModelDefinition, config: Config, size: LayerSize): number {
  const declared = definition.parametersPerLayer(size.dModel, size.heads, config);
  return withLayer(definition, config, size, 1, ({ store }) => {
    const actual = store.count();
    if (declared !== actual) {
      const created = store
        .entries()
        .map(([name, v]) => `${name.replace(/^layer\./, "")} ${v.size}`)
        .join(", ");
      throw new ContractViolation(
        definition.id,
        `parametersPerLayer(${size.dModel}, ${size.heads}) = ${declared}, but the layer created ${actual} parameters (${created})`,
      );
    }
    return actual;
  });
}

// A Record, so that a new TransitionKind fails to compile here until it is listed.
const TRANSITION_KINDS: Readonly<Record<TransitionKind, true>> = {
  identity: true,
  "constant-scalar": true,
  scalar: true,
  diagonal: true,
  householder: true,
  "gated-householder": true,
  "householder-product": true,
  nonlinear: true,
  none: true,
};

/** Every taxonomy field is present with its type; stateSize is a non-negative integer at every size. */
export function checkTaxonomy(definition: ModelDefinition, sizes: readonly LayerSize[] = [SMALL_LAYER, WIDER_LAYER]): void {
  const problems: string[] = [];
  const t = (definition.taxonomy ?? {}) as unknown as Record<string, unknown>;
  if (typeof definition.description !== "string" || !definition.description.trim()) problems.push("description must be a non-empty string");
  if (typeof t.transition !== "string" || !(t.transition in TRANSITION_KINDS)) {
    problems.push(`taxonomy.transition is ${JSON.stringify(t.transition)}; expected one of ${Object.keys(TRANSITION_KINDS).join(", ")}`);
  }
  for (const field of ["transitionDetail", "write", "readout"]) {
    if (typeof t[field] !== "string" || !(t[field] as string).trim()) problems.push(`taxonomy.${field} must be a non-empty string`);
  }
  for (const field of ["outputGate", "channelMixing"]) {
    if (typeof t[field] !== "boolean") problems.push(`taxonomy.${field} must be true or false`);
  }
  if (typeof t.complementaryGating !== "boolean" && t.complementaryGating !== "partial") {
    problems.push('taxonomy.complementaryGating must be true, false or "partial"');
  }
  if (typeof t.stateSize !== "function") problems.push("taxonomy.stateSize must be a function (d, heads) → number");
  else {
    for (const { dModel, heads } of sizes) {
      const n = (t.stateSize as (d: number, h: number) => unknown)(dModel, heads);
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
        problems.push(`taxonomy.stateSize(${dModel}, ${heads}) is ${JSON.stringify(n)}; expected a non-negative integer`);
      }
    }
  }
  if (problems.length) throw new ContractViolation(definition.id, problems.join("; "));
}

/** Values that `spec` must refuse: wrong types, and values just outside its bounds. */
/**
 * The error `f` throws, which must be a one-line SelectivError (what every user error of selectiv is); throws an
 * Error saying what happened instead when `f` returns, or throws anything else.
 */
export function oneLineErrorOf(f: () => unknown): Error {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error("expected a SelectivError; nothing was thrown");
  if (!isSelectivError(error)) throw new Error(`expected a SelectivError; got ${String(error)}`);
  if (error.message.includes("\n")) throw new Error(`expected one line; got ${JSON.stringify(error.message)}`);
  return error;
}

export function badValuesFor(spec: FieldSpec): unknown[] {
  switch (spec.type) {
    case "int":
      return [1.5, "1", ...(spec.min !== undefined ? [spec.min - 1] : []), ...(spec.max !== undefined ? [spec.max + 1] : [])];
    case "number":
      return [
        "1",
        Number.NaN,
        ...(spec.min !== undefined ? [spec.exclusiveMin ? spec.min : spec.min - 1] : []),
        ...(spec.max !== undefined ? [spec.exclusiveMax ? spec.max : spec.max + 1] : []),
      ];
    case "boolean":
      return ["true", 1];
    case "enum":
      return [`not ${spec.values.join(" or ")}`, 1];
    case "string":
      return [1, true];
  }
}

/**
 * The schema accepts the defaults and refuses an unknown key and a bad value for every field, each with a
 * one-line SelectivError naming the field (what `--set model.KEY=V` and config files go through).
 */
export function checkSchemaRejectsBadValues(definition: ModelDefinition): void {
  const context = `model ${definition.id}`;
  try {
    contractConfig(definition);
  } catch (e) {
    throw new ContractViolation(definition.id, `the defaults do not pass the schema: ${e instanceof Error ? e.message : String(e)}`);
  }
  const refuses = (overrides: Record<string, unknown>, field: string, description: string) => {
    try {
      resolveConfig(definition.schema, definition.defaults, overrides, context);
    } catch (e) {
      if (!isSelectivError(e)) throw new ContractViolation(definition.id, `${description} throws ${String(e)}, not a SelectivError`);
      if (e.message.includes("\n") || !e.message.includes(field)) {
        throw new ContractViolation(definition.id, `${description} gives ${JSON.stringify(e.message)}; expected one line naming ${field}`);
      }
      return;
    }
    throw new ContractViolation(definition.id, `${description} is accepted`);
  };
  refuses({ "not-a-field": 1 }, '"not-a-field"', "an unknown key");
  for (const [key, spec] of Object.entries(definition.schema)) {
    for (const value of badValuesFor(spec)) {
      const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
      refuses({ [key]: value }, `${context}.${key}`, `${key} = ${shown} (${spec.type} field)`);
    }
  }
}
