// The test kit on a tiny model that keeps the contract (every case passes), and on wrong variants of it
// (each check fails, naming the problem).
import "reflect-metadata";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.js";
import type { Config } from "../config.js";
import type { LayerBuildContext, ModelDefinition, SequenceLayer } from "../model.js";
import { Linear, RMSNorm, logSigmoid, mergeHeads, splitHeads } from "../nn/layers.js";
import { init, type Initializer } from "../nn/parameters.js";
import { linearRecurrence, recurrenceStep } from "../recurrence/linear/index.js";
import { zeroState } from "../recurrence/tensor-ops.js";
import { tf } from "../tf.js";
import {
  ContractViolation,
  SMALL_LAYER,
  WIDER_LAYER,
  checkChunkedMatchesStepwise,
  checkParameterCount,
  checkSchemaRejectsBadValues,
  checkSeedDeterminism,
  checkStreamingMatchesForward,
  checkTaxonomy,
  contractConfig,
  describeModelContract,
  registeredModel,
} from "./index.js";

/** S_t = α_t S_{t−1} + k_t v_tᵀ per head with α_t = σ(x_t w_h + b_h); o_t = S_tᵀ q_t, RMSNorm, o_proj. */
class TinyDecayLayer implements SequenceLayer {
  private readonly q: Linear;
  private readonly k: Linear;
  private readonly v: Linear;
  private readonly gate: Linear;
  private readonly o: Linear;
  private readonly norm: RMSNorm;
  private readonly dk: number;

  constructor(
    private readonly ctx: LayerBuildContext,
    private readonly chunkSize: number,
    weightInit?: Initializer,
  ) {
    const d = ctx.dModel;
    this.dk = d / ctx.heads;
    this.q = new Linear(ctx.params, "q_proj", d, d, { bias: false, weightInit });
    this.k = new Linear(ctx.params, "k_proj", d, d, { bias: false, weightInit });
    this.v = new Linear(ctx.params, "v_proj", d, d, { bias: false, weightInit });
    this.gate = new Linear(ctx.params, "a_proj", d, ctx.heads, { bias: true, weightInit, biasInit: init.constant(2) });
    this.o = new Linear(ctx.params, "o_proj", d, d, { bias: false, weightInit });
    this.norm = new RMSNorm(ctx.params, "o_norm", this.dk);
  }

  forward(x: tf.Tensor3D, options: { training: boolean; form?: "chunked" | "stepwise" }): tf.Tensor3D {
    const heads = this.ctx.heads;
    const logAlpha = tf.transpose(logSigmoid(this.gate.apply(x)), [0, 2, 1]) as tf.Tensor3D;
    const r = linearRecurrence(
      {
        query: splitHeads(tf.mul(this.q.apply(x), 1 / Math.sqrt(this.dk)), heads),
        key: splitHeads(this.k.apply(x), heads),
        value: splitHeads(this.v.apply(x), heads),
        decay: { kind: "scalar", logAlpha },
      },
      options.form ?? "chunked",
      { chunkSize: this.chunkSize },
    );
    return this.o.apply(mergeHeads(this.norm.apply(r.output)));
  }

  initialState(batch: number): tf.Tensor[] {
    return [zeroState(batch, this.ctx.heads, this.dk, this.dk)];
  }

  step(x: tf.Tensor2D, state: readonly tf.Tensor[]): { y: tf.Tensor2D; state: tf.Tensor[] } {
    const [b, d] = x.shape;
    const head = (t: tf.Tensor) => tf.reshape(t, [b, this.ctx.heads, this.dk]) as tf.Tensor3D;
    const q = head(tf.mul(this.q.apply(x), 1 / Math.sqrt(this.dk)));
    const logAlpha = logSigmoid(this.gate.apply(x));
    const r = recurrenceStep(state[0] as tf.Tensor4D, q, head(this.k.apply(x)), head(this.v.apply(x)), "scalar", logAlpha);
    return { y: this.o.apply(tf.reshape(this.norm.apply(r.output), [b, d])) as tf.Tensor2D, state: [r.state] };
  }
}

const tinyModel: ModelDefinition = {
  id: "kit-tiny",
  description: "A scalar-decay linear recurrence for testing the kit.",
  schema: {
    chunkSize: { type: "int", min: 1, max: 64, description: "chunk length of the training form" },
    readout: { type: "enum", values: ["norm"], description: "readout normalisation" },
  },
  defaults: { chunkSize: 8, readout: "norm" },
  taxonomy: {
    transition: "scalar",
    transitionDetail: "α_t I per head, α_t = σ(x_t w_h + b_h)",
    write: "k_t v_tᵀ",
    readout: "S_tᵀ q_t/√d_k, RMSNorm",
    outputGate: false,
    complementaryGating: false,
    channelMixing: false,
    stateSize: (d, h) => h * (d / h) * (d / h),
  },
  createLayer: (ctx, config) => new TinyDecayLayer(ctx, config.chunkSize as number),
  // q, k, v, o (4d²) + gate (dH + H) + norm (d/H).
  parametersPerLayer: (d, h) => 4 * d * d + d * h + h + d / h,
};

/** The tiny model with its layer replaced by `wrap(layer)`. */
function withWrappedLayer(wrap: (layer: SequenceLayer) => SequenceLayer): ModelDefinition {
  return { ...tinyModel, createLayer: (ctx, config) => wrap(tinyModel.createLayer(ctx, config)) };
}

// Identity in value with a doubled gradient: a training form whose outputs are right and gradients wrong.
const doubledGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.clone(args[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.mul(dy, 2),
}));

const defaults: Config = contractConfig(tinyModel);

describeModelContract(tinyModel, { describe, it, variants: { "chunk 3": { chunkSize: 3 } } });

describe("the kit refuses models that break the contract", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  it("parametersPerLayer off by one", () => {
    const wrong = { ...tinyModel, parametersPerLayer: (d: number, h: number) => tinyModel.parametersPerLayer(d, h, defaults) + 1 };
    expect(() => checkParameterCount(wrong, defaults, SMALL_LAYER)).toThrow(
      /^model "kit-tiny": parametersPerLayer\(16, 2\) = 1067, but the layer created 1066 parameters \(q_proj.weight 256, /,
    );
    expect(checkParameterCount(tinyModel, defaults, WIDER_LAYER)).toBe(4 * 32 * 32 + 32 * 4 + 4 + 8);
  });

  it("a stepwise form that differs from the training form", () => {
    const wrong = withWrappedLayer((layer) => ({
      forward: (x, o) => (o.form === "stepwise" ? tf.mul(layer.forward(x, o), 1.01) : layer.forward(x, o)),
      initialState: (b) => layer.initialState(b),
      step: (x, s) => layer.step(x, s),
    }));
    for (const kernels of ["fused", "ops"] as const) {
      expect(() => checkChunkedMatchesStepwise(wrong, { config: defaults, length: 5, kernels })).toThrow(
        new RegExp(`chunked and stepwise outputs differ by 9\\.\\d+e-3 .* at T=5, ${kernels} kernels`),
      );
    }
  });

  it("equal outputs but a wrong gradient in the training form", () => {
    const wrong = withWrappedLayer((layer) => ({
      forward: (x, o) => (o.form === "stepwise" ? layer.forward(x, o) : (doubledGradient(layer.forward(x, o)) as tf.Tensor3D)),
      initialState: (b) => layer.initialState(b),
      step: (x, s) => layer.step(x, s),
    }));
    expect(() => checkChunkedMatchesStepwise(wrong, { config: defaults, length: 16, kernels: "fused" })).toThrow(
      /gradients of layer\.q_proj\.weight differ by 1\.00e\+0 between chunked and stepwise/,
    );
  });

  it("streaming that forgets its state", () => {
    const wrong = withWrappedLayer((layer) => ({
      forward: (x, o) => layer.forward(x, o),
      initialState: (b) => layer.initialState(b),
      step: (x, _state) => layer.step(x, layer.initialState(x.shape[0])),
    }));
    expect(() => checkStreamingMatchesForward(wrong, { config: defaults })).toThrow(
      /streaming \(initialState \+ step\) differs from forward by/,
    );
  });

  it("a parameter that receives no gradient", () => {
    const wrong: ModelDefinition = {
      ...tinyModel,
      createLayer: (ctx, config) => {
        ctx.params.variable("unused", [3], init.constant(0));
        return tinyModel.createLayer(ctx, config);
      },
    };
    expect(() => checkChunkedMatchesStepwise(wrong, { config: defaults, length: 5, kernels: "fused" })).toThrow(
      /layer\.unused receives no gradient in the chunked and stepwise form/,
    );
  });

  it("initial weights that ignore the seed, and ones that are not reproducible", () => {
    const fixed = {
      ...tinyModel,
      createLayer: (ctx: LayerBuildContext, c: Config) => new TinyDecayLayer(ctx, c.chunkSize as number, init.byIndex(Math.sin)),
    };
    expect(() => checkSeedDeterminism(fixed, { config: defaults })).toThrow(
      /seeds 7 and 8 give identical weights; the initialisation ignores the seed/,
    );
    const random = {
      ...tinyModel,
      createLayer: (ctx: LayerBuildContext, c: Config) => new TinyDecayLayer(ctx, c.chunkSize as number, init.byIndex(Math.random)),
    };
    expect(() => checkSeedDeterminism(random, { config: defaults })).toThrow(
      /seed 7 gives different initial values of layer\.q_proj\.weight on two builds/,
    );
  });

  it("an incomplete taxonomy", () => {
    const wrong = {
      ...tinyModel,
      taxonomy: { ...tinyModel.taxonomy, transition: "sideways", write: "", outputGate: "no", stateSize: () => 0.5 },
    } as unknown as ModelDefinition;
    expect(() => checkTaxonomy(wrong)).toThrow(
      /taxonomy\.transition is "sideways"; expected one of identity, .*; taxonomy\.write must be a non-empty string; taxonomy\.outputGate must be true or false; taxonomy\.stateSize\(16, 2\) is 0\.5/,
    );
  });

  it("defaults the schema refuses", () => {
    const wrong = { ...tinyModel, defaults: { chunkSize: 0, readout: "norm" } };
    expect(() => checkSchemaRejectsBadValues(wrong)).toThrow(
      /the defaults do not pass the schema: model kit-tiny\.chunkSize: got 0; expected an integer in \[1, 64\]/,
    );
  });

  it("every failure is a ContractViolation naming the model", () => {
    const wrong = { ...tinyModel, parametersPerLayer: () => 0 };
    expect(() => checkParameterCount(wrong, defaults, SMALL_LAYER)).toThrow(ContractViolation);
  });
});

describe("registeredModel", () => {
  it("returns the model a register(host) function registers, through the registry's checks", async () => {
    const definition = await registeredModel((host) => {
      expect(host.tf).toBe(tf);
      host.registerModel(tinyModel);
    }, "kit-tiny");
    expect(definition.parametersPerLayer(16, 2, defaults)).toBe(1066);
    expect((definition as ModelDefinition & { owner: string }).owner).toBe("plugin under test");
  });

  it("names what was registered when the id is not", async () => {
    await expect(registeredModel((host) => host.registerModel(tinyModel), "other")).rejects.toThrow(
      'register(host) registered no model "other"; it registered: kit-tiny',
    );
    await expect(registeredModel((host) => host.registerModel({ ...tinyModel, id: "Bad Id" }), "kit-tiny")).rejects.toThrow(
      /plugin under test: model id "Bad Id" is not allowed/,
    );
  });
});
