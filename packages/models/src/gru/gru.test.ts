// GRU (docs/spec/MODELS.md §5.3): the model contract from @selectiv/core/testkit (the training form is the fused kernel),
// then what is particular to the GRU: the kernel choice on CPU, saturated gates, the kernel alone against autodiff,
// a plain-JS reading of §5.3, the state's shape, the §7 figures and the PyTorch init.
import { describe, expect, it } from "vitest";
import { Rng, prefersFusedKernels, tf } from "@selectiv/core";
import { WIDER_LAYER, checkParameterCount, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { GRADIENT_TOLERANCE, VALUE_TOLERANCE, modelTests, randomTensor, relativeDiff } from "../shared/test-helpers.js";
import type { GruConfig } from "./config.js";
import { gruDefinition } from "./definition.js";
import { fusedGru } from "./fused-gru.js";
import type { Gru } from "./layer.js";

const model = modelTests<GruConfig, Gru>(gruDefinition);

describeModelContract(gruDefinition, { describe, it, variants: { "without biases": { bias: false } } });

describe("GRU layer (docs/spec/MODELS.md §5.3): fused kernel (training form) ≡ stepwise oracle", () => {
  it("the CPU backend selects the fused kernel for the training form", async () => {
    await tf.ready();
    expect(tf.getBackend()).toBe("cpu");
    expect(prefersFusedKernels()).toBe(true);
  });

  it("extreme gates: saturated r, z and n (pre-activations of ±30 and more): finite and agreeing", () => {
    for (const [reset, update] of [
      [-30, 30],
      [30, -30],
    ] as const) {
      const d = 16;
      const built = model.build(d, 2, 5);
      const bias = built.param("bias_hh_l0");
      bias.assign(tf.concat([tf.fill([d], reset), tf.fill([d], update), tf.fill([d], 0)]));
      const x = tf.variable(randomTensor(new Rng(9), [2, 37, d], 20));
      built.expectFormsAgree(x);
      built.dispose();
      x.dispose();
    }
  });

  it("the kernel alone: values and gradients (gi, W_hh, b_hh) equal autodiff of the TF cell", () => {
    const [b, t, d] = [2, 23, 6];
    const rng = new Rng(77);
    const gi = randomTensor(rng, [b, t, 3 * d]) as tf.Tensor3D;
    const w = randomTensor(rng, [d, 3 * d], 0.5) as tf.Tensor2D;
    const bias = randomTensor(rng, [3 * d], 0.5) as tf.Tensor1D;
    const weights = randomTensor(rng, [b, t, d]);
    const reference = (g: tf.Tensor3D, wh: tf.Tensor2D, bh: tf.Tensor1D): tf.Tensor3D => {
      let h: tf.Tensor2D = tf.zeros([b, d]);
      const hs: tf.Tensor2D[] = [];
      for (let i = 0; i < t; i++) {
        const gt = tf.reshape(tf.slice(g, [0, i, 0], [b, 1, 3 * d]), [b, 3 * d]);
        const gh = tf.add(tf.matMul(h, wh), bh);
        const part = (x: tf.Tensor, k: number) => tf.slice(x, [0, k * d], [b, d]);
        const r = tf.sigmoid(tf.add(part(gt, 0), part(gh, 0)));
        const z = tf.sigmoid(tf.add(part(gt, 1), part(gh, 1)));
        const n = tf.tanh(tf.add(part(gt, 2), tf.mul(r, part(gh, 2))));
        h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
        hs.push(h);
      }
      return tf.stack(hs, 1) as tf.Tensor3D;
    };
    const loss =
      (f: typeof reference) =>
      (...xs: tf.Tensor[]) =>
        tf.sum(tf.mul(f(xs[0] as tf.Tensor3D, xs[1] as tf.Tensor2D, xs[2] as tf.Tensor1D), weights));
    const expected = tf.grads(loss(reference))([gi, w, bias]);
    const actual = tf.grads(loss(fusedGru))([gi, w, bias]);
    expect(relativeDiff(fusedGru(gi, w, bias), reference(gi, w, bias))).toBeLessThan(VALUE_TOLERANCE);
    for (let i = 0; i < 3; i++) expect(relativeDiff(actual[i]!, expected[i]!)).toBeLessThan(GRADIENT_TOLERANCE);
  });
});

describe("GRU layer: streaming state", () => {
  it("h [B, d] (the kit checks it keeps its shape)", () => {
    const built = model.build(16, 2, 42);
    expect(built.layer.initialState(3).map((s) => s.shape)).toEqual([[3, 16]]);
    built.dispose();
  });
});

/** An independent plain-JS reading of §5.3 for B = 1, from the parameter values (PyTorch gate order r, z, n). */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number): number[][] {
  const [wih, whh, bih, bhh] = [p("weight_ih_l0"), p("weight_hh_l0"), p("bias_ih_l0"), p("bias_hh_l0")];
  // Weights are stored in × out: column g·d + i is gate g, unit i.
  const affine = (v: number[], w: number[], bias: number[], gate: number, i: number) =>
    v.reduce((s, vj, j) => s + vj * w[j * 3 * d + gate * d + i]!, bias[gate * d + i]!);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  let h = new Array<number>(d).fill(0);
  return xs.map((x) => {
    h = h.map((hi, i) => {
      const r = sig(affine(x, wih, bih, 0, i) + affine(h, whh, bhh, 0, i));
      const z = sig(affine(x, wih, bih, 1, i) + affine(h, whh, bhh, 1, i));
      const n = Math.tanh(affine(x, wih, bih, 2, i) + r * affine(h, whh, bhh, 2, i));
      return (1 - z) * n + z * hi;
    });
    return h;
  });
}

describe("GRU layer: values match a plain-JS reading of §5.3", () => {
  it("d=8, T=9, both forms", () => {
    const built = model.build(8, 2, 3);
    built.expectMatchesReference(9, (xs) => referenceForward(built.values, xs, 8));
    built.dispose();
  });
});

describe("GRU parameters (docs/spec/MODELS.md §5.3, §7)", () => {
  it("parametersPerLayer = 6d² + 6d = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d) => 6 * d * d + 6 * d);
  });

  it("without biases: 6d²", () => {
    expect(checkParameterCount(gruDefinition, contractConfig(gruDefinition, { bias: false }), WIDER_LAYER)).toBe(6 * 32 * 32);
  });

  it("the per-layer count at d = 256 matches §7.2 (394,752; the RecNet total 3,584,321 is checked in parameter-totals.test.ts); stateSize is d", () => {
    model.expectFiguresAt256({ perLayer: 394_752, stateSize: 256 });
  });
});

describe("GRU init (docs/spec/MODELS.md §5.3)", () => {
  it("every tensor moves with the seed; all U(±1/√d), spread over most of that range", () => {
    const names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];
    // §5.3: U(−1/√d, 1/√d) with d = 16.
    model.expectInit({ d: 16, heads: 2 }, { bounds: Object.fromEntries(names.map((name) => [name, 0.25])) });
    const a = model.build(16, 2, 123);
    expect(a.store.names).toEqual(names.map((name) => `layer.${name}`));
    for (const name of names) {
      const values = a.values(name);
      expect(Math.max(...values), name).toBeGreaterThan(0.2);
      expect(Math.min(...values), name).toBeLessThan(-0.2);
    }
    a.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts gru in the model registry", () => {
    model.expectRegistered("nonlinear");
  });
});
