// Every built-in model's weights in the reference's PyTorch names and layouts (docs/WEIGHTS.md): the names and shapes
// of the reference RecNet's state_dict, as read from fla's, mamba_ssm's and the reference's module definitions, and
// export → safetensors bytes → import into a differently seeded network giving the same parameters and logits.
import "reflect-metadata";
import {
  type Config,
  type Float32Tensor,
  type ModelDefinition,
  RecNet,
  Rng,
  decodeSafetensors,
  encodeSafetensors,
  isSelectivError,
  loadReferenceStateDict,
  referenceStateDict,
  tf,
} from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { builtInModels } from "./index.js";

// A small RecNet: width 16, 2 layers, 4 heads (head dim 4), 5 inputs, 3 classes; d_state 8 where a model has one.
const SHAPE = { inputSize: 5, numClasses: 3, width: 16, layers: 2, heads: 4, dropout: 0 };

/** The reference RecNet's wrapper: nn.Linear encoder and decoder, one nn.LayerNorm per layer. */
const WRAPPER: Record<string, number[]> = {
  "encoder.weight": [16, 5],
  "encoder.bias": [16],
  "norms.0.weight": [16],
  "norms.0.bias": [16],
  "norms.1.weight": [16],
  "norms.1.bias": [16],
  "decoder.weight": [3, 16],
  "decoder.bias": [3],
};

/** fla's q/k/v projections (nn.Linear [out, in]) and ShortConvolutions (Conv1d [C, 1, K]) at the given widths. */
const flaQkv = (k: number, v: number): Record<string, number[]> => ({
  "q_proj.weight": [k, 16],
  "k_proj.weight": [k, 16],
  "v_proj.weight": [v, 16],
  "q_conv1d.weight": [k, 1, 4],
  "k_conv1d.weight": [k, 1, 4],
  "v_conv1d.weight": [v, 1, 4],
});

/** One layer's state_dict entries (`layers.<i>.` stripped) per model, with the reference's constructor arguments. */
const LAYER: Record<string, Record<string, number[]>> = {
  gla: {
    ...flaQkv(16, 32),
    "g_proj.weight": [32, 16],
    "gk_proj.0.weight": [16, 16],
    "gk_proj.1.weight": [16, 16],
    "gk_proj.1.bias": [16],
    "g_norm_swish_gate.weight": [8],
    "o_proj.weight": [16, 32],
  },
  retnet: { ...flaQkv(16, 32), "g_proj.weight": [32, 16], "g_norm_swish_gate.weight": [8], "o_proj.weight": [16, 32] },
  "linear-attention": { ...flaQkv(16, 32), "norm.weight": [8], "o_proj.weight": [16, 32] },
  "delta-net": { ...flaQkv(16, 32), "b_proj.weight": [4, 16], "o_norm.weight": [8], "o_proj.weight": [16, 32] },
  "gated-delta-net": {
    ...flaQkv(16, 32),
    "a_proj.weight": [4, 16],
    A_log: [4],
    dt_bias: [4],
    "b_proj.weight": [4, 16],
    "g_proj.weight": [32, 16],
    "o_norm.weight": [8],
    "o_proj.weight": [16, 32],
  },
  "gated-delta-product": {
    "q_proj.weight": [16, 16],
    "k_proj.weight": [64, 16],
    "v_proj.weight": [128, 16],
    "q_conv1d.weight": [16, 1, 4],
    "k_conv1d.weight": [64, 1, 4],
    "v_conv1d.weight": [128, 1, 4],
    "b_proj.weight": [16, 16],
    "a_proj.weight": [4, 16],
    A_log: [4],
    dt_bias: [4],
    "g_proj.weight": [32, 16],
    "o_norm.weight": [8],
    "o_proj.weight": [16, 32],
  },
  "mesa-net": {
    "q_proj.weight": [16, 16],
    "k_proj.weight": [16, 16],
    "v_proj.weight": [16, 16],
    "a_proj.weight": [4, 16],
    "a_proj.bias": [4],
    "b_proj.weight": [4, 16],
    "b_proj.bias": [4],
    lambda_params: [16],
    "q_conv1d.weight": [16, 1, 4],
    "k_conv1d.weight": [16, 1, 4],
    "o_norm.weight": [4],
    "o_proj.weight": [16, 16],
  },
  // E = 32, dt rank 1, N = 8.
  mamba: {
    "in_proj.weight": [64, 16],
    "conv1d.weight": [32, 1, 4],
    "conv1d.bias": [32],
    "x_proj.weight": [17, 32],
    "dt_proj.weight": [32, 1],
    "dt_proj.bias": [32],
    A_log: [32, 8],
    D: [32],
    "out_proj.weight": [16, 32],
  },
  // E = 32, N = 8, 8 heads of P = 4: in_proj 2E + 2N + 8, conv on E + 2N.
  mamba2: {
    "in_proj.weight": [88, 16],
    "conv1d.weight": [48, 1, 4],
    "conv1d.bias": [48],
    dt_bias: [8],
    A_log: [8],
    D: [8],
    "norm.weight": [32],
    "out_proj.weight": [16, 32],
  },
  transformer: {
    "q_proj.weight": [16, 16],
    "q_proj.bias": [16],
    "k_proj.weight": [16, 16],
    "k_proj.bias": [16],
    "v_proj.weight": [16, 16],
    "v_proj.bias": [16],
    "rotary.inv_freq": [2],
    "out_proj.weight": [16, 16],
    "out_proj.bias": [16],
    "q_norm.weight": [4],
    "k_norm.weight": [4],
    "out_norm.weight": [16],
    "linear1.weight": [128, 16],
    "linear1.bias": [128],
    "linear2.weight": [16, 64],
    "linear2.bias": [16],
    beta: [1],
  },
  s4d: {
    D: [16],
    "kernel.C": [16, 4, 2],
    "kernel.log_dt": [16],
    "kernel.log_A_real": [16, 4],
    "kernel.A_imag": [16, 4],
    "output_linear.0.weight": [32, 16, 1],
    "output_linear.0.bias": [32],
  },
  gru: { weight_ih_l0: [48, 16], weight_hh_l0: [48, 16], bias_ih_l0: [48], bias_hh_l0: [48] },
};

function smallConfig(definition: ModelDefinition): Config {
  return "dState" in definition.defaults ? { ...definition.defaults, dState: 8 } : definition.defaults;
}

function expectedStateDict(id: string): Record<string, number[]> {
  const layers = Object.entries(LAYER[id]!).flatMap(([name, shape]) => [0, 1].map((l) => [`layers.${l}.${name}`, shape] as const));
  return { ...WRAPPER, ...Object.fromEntries(layers) };
}

async function logitsOf(net: RecNet, x: tf.Tensor3D): Promise<Float32Array> {
  const y = net.logits(x, { training: false });
  const values = (await y.data()) as Float32Array;
  y.dispose();
  return values;
}

describe("weights in the reference's PyTorch names and layouts", () => {
  it("every built-in model has a reference table, and this test covers each", () => {
    expect(builtInModels.map((m) => m.id).sort()).toEqual(Object.keys(LAYER).sort());
    for (const m of builtInModels) expect(m.referenceParameters?.module, m.id).toBeTruthy();
  });

  for (const definition of builtInModels) {
    it(`${definition.id}: the reference's names and shapes; export → import gives the same parameters and logits`, async () => {
      const config = smallConfig(definition);
      const source = new RecNet(definition, config, SHAPE, 11);
      const stateDict = await referenceStateDict(source);
      const shapes = Object.fromEntries([...stateDict].map(([name, t]) => [name, [...t.shape]]));
      expect(shapes).toEqual(expectedStateDict(definition.id));

      const bytes = encodeSafetensors(stateDict, { "selectiv.model": definition.id });
      const target = new RecNet(definition, config, SHAPE, 12);
      loadReferenceStateDict(target, decodeSafetensors(bytes, "test").tensors, "test");
      const targetParameters = new Map(target.store.entries());
      for (const [name, v] of source.store.entries()) {
        expect(targetParameters.get(name)!.shape, name).toEqual(v.shape);
        expect(await targetParameters.get(name)!.data(), name).toEqual(await v.data());
      }
      const rng = new Rng(3);
      const x = tf.tensor3d(
        Float32Array.from({ length: 2 * 6 * 5 }, () => rng.normal()),
        [2, 6, 5],
      );
      expect(await logitsOf(target, x)).toEqual(await logitsOf(source, x));
      x.dispose();
      source.dispose();
      target.dispose();
    });
  }

  it("a layout is PyTorch's: a Linear weight's row o is output o, a conv's [c, 0, k] is tap k of channel c", async () => {
    const gla = builtInModels.find((m) => m.id === "gla")!;
    const net = new RecNet(gla, gla.defaults, SHAPE, 1);
    const ours = new Map(net.store.entries());
    const stateDict = await referenceStateDict(net);
    const encoder = (await ours.get("encoder.weight")!.data()) as Float32Array; // [in 5, out 16]
    const torchEncoder = stateDict.get("encoder.weight")!; // [out 16, in 5]
    expect(torchEncoder.data[3 * 5 + 2]).toBe(encoder[2 * 16 + 3]);
    const conv = (await ours.get("layers.0.mixer.v_conv1d.weight")!.data()) as Float32Array; // [K 4, C 32]
    const torchConv = stateDict.get("layers.0.v_conv1d.weight")!; // [C 32, 1, K 4]
    expect(torchConv.data[7 * 4 + 3]).toBe(conv[3 * 32 + 7]);
    net.dispose();
  });

  describe("import errors: one line naming the tensor and the expected shape", () => {
    const gla = builtInModels.find((m) => m.id === "gla")!;
    async function glaStateDict(): Promise<{ net: RecNet; tensors: Map<string, Float32Tensor> }> {
      const net = new RecNet(gla, gla.defaults, SHAPE, 1);
      return { net, tensors: await referenceStateDict(net) };
    }
    function importError(net: RecNet, tensors: Map<string, Float32Tensor>): string {
      try {
        loadReferenceStateDict(net, tensors, "w.safetensors");
      } catch (e) {
        expect(isSelectivError(e)).toBe(true);
        expect((e as Error).message.split("\n")).toHaveLength(1);
        return (e as Error).message;
      } finally {
        net.dispose();
      }
      throw new Error("expected an import error");
    }

    it("a missing tensor", async () => {
      const { net, tensors } = await glaStateDict();
      tensors.delete("layers.1.gk_proj.1.bias");
      expect(importError(net, tensors)).toBe(
        "w.safetensors: tensor layers.1.gk_proj.1.bias is missing; a gla network of width 16, 2 layers, 4 heads, 5 inputs and 3 classes needs it with shape [16]",
      );
    });

    it("an extra tensor", async () => {
      const { net, tensors } = await glaStateDict();
      tensors.set("layers.2.o_proj.weight", { shape: [16, 32], data: new Float32Array(512) });
      expect(importError(net, tensors)).toMatch(
        /^w\.safetensors: tensor layers\.2\.o_proj\.weight \[16, 32\] is not a weight of a gla network of width 16/,
      );
    });

    it("a mis-shaped tensor (our [in, out] layout where PyTorch's [out, in] belongs)", async () => {
      const { net, tensors } = await glaStateDict();
      tensors.set("layers.0.v_proj.weight", { shape: [16, 32], data: new Float32Array(512) });
      expect(importError(net, tensors)).toMatch(
        /^w\.safetensors: tensor layers\.0\.v_proj\.weight has shape \[16, 32\]; a gla network .* needs \[32, 16\]$/,
      );
    });

    it("several problems: the first, and how many more", async () => {
      const { net, tensors } = await glaStateDict();
      tensors.delete("decoder.bias");
      tensors.delete("decoder.weight");
      expect(importError(net, tensors)).toMatch(/tensor decoder\.weight is missing; .* \(and 1 more problem\)$/);
    });

    it("a buffer the model's config does not give (the Transformer's rotary.inv_freq at another rope base)", async () => {
      const transformer = builtInModels.find((m) => m.id === "transformer")!;
      const other = new RecNet(transformer, { ...transformer.defaults, ropeBase: 10000 }, SHAPE, 1);
      const tensors = await referenceStateDict(other);
      other.dispose();
      const net = new RecNet(transformer, transformer.defaults, SHAPE, 1);
      expect(importError(net, tensors)).toMatch(
        /tensor layers\.0\.rotary\.inv_freq holds 0\.01 at index 1 where this transformer config gives 0\.0316\d+; the buffer follows from the model's settings \(--set transformer\.KEY=V\)/,
      );
    });
  });
});
