// Mamba2 (docs/spec/MODELS.md §4.2): the model contract from @selectiv/core/testkit (chunked SSD ≡ stepwise oracle), then what
// is particular to Mamba2: strong decays (§9.5) with ∂L/∂A_log against finite differences, a plain-JS reading of
// §4.2, the state's shapes, the §7 figures and the §4.2 initialisations.
import { describe, expect, it } from "vitest";
import { Rng, tf, type ComputeForm } from "@selectiv/core";
import { checkParameterCount, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { modelTests, plain, randomTensor, relativeDiff, type TestLayer } from "../shared/test-helpers.js";
import { mamba2Defaults, type Mamba2Config } from "./config.js";
import { mamba2Definition } from "./definition.js";
import type { Mamba2 } from "./layer.js";

const model = modelTests<Mamba2Config, Mamba2>(mamba2Definition);

// The defaults have N = 128 and chunk 64 (one chunk at every contract length); the variants split into chunks.
describeModelContract(mamba2Definition, {
  describe,
  it,
  variants: {
    "N = 8, chunk 16": { dState: 8, chunkSize: 16 },
    "N = 8, chunk 5 (divides no T)": { dState: 8, chunkSize: 5 },
  },
});

/** Δ·a [B·T, n_h] recomputed from the parameters: x → in_proj[δ] → softplus(δ + dt_bias) · (−exp(A_log)). */
function logDecays(built: TestLayer, x: tf.Tensor, d: number, n: number, nh: number): tf.Tensor {
  return tf.tidy(() => {
    const projected = tf.matMul(tf.reshape(x, [-1, d]), built.param("in_proj.weight"));
    const raw = tf.slice(projected, [0, 2 * 2 * d + 2 * n], [-1, nh]);
    const delta = tf.softplus(tf.add(raw, built.param("dt_bias")));
    return tf.mul(delta, tf.neg(tf.exp(built.param("A_log"))));
  });
}

describe("Mamba2 layer (docs/spec/MODELS.md §4.2, §9.5): extreme gates", () => {
  const d = 16;
  const heads = 2; // headdim 8, n_h = 4 SSM heads

  /** a = −10 per head and softplus(dt_bias) = 1, so Δ·a ≈ −10 per step, give or take the input's δ. */
  function extremeGates(chunkSize: number): { built: TestLayer<Mamba2>; x: tf.Variable } {
    const built = model.build(d, heads, 5, { dState: 8, chunkSize });
    const aLog = built.param("A_log");
    aLog.assign(tf.fill(aLog.shape, Math.log(10)));
    const dtBias = built.param("dt_bias");
    dtBias.assign(tf.fill(dtBias.shape, Math.log(Math.expm1(1))));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    const decays = logDecays(built, x, d, 8, 4);
    const mean = tf.mean(decays).dataSync()[0]!;
    expect(mean).toBeLessThan(-7);
    expect(mean).toBeGreaterThan(-14);
    decays.dispose();
    return { built, x };
  }

  for (const chunkSize of [16, 64]) {
    it(`extreme gates (Δ·a ≈ −10 per step), chunk ${chunkSize}: finite and agreeing`, () => {
      const { built, x } = extremeGates(chunkSize);
      // Under strong decay ∂L/∂A_log nearly cancels (≈ 0.04, against gradients of 1–20 elsewhere), and core's
      // chunkedScan takes Γ from differences of in-chunk cumsums reaching C·|Δa| ≈ 10C, so fp32 rounding shows
      // there (measured 9e-5 relative at C = 16, 2.6e-4 at C = 64). The stepwise form is the accurate one (below).
      built.expectFormsAgree(x, { looser: { A_log: 1e-3 } });
      built.dispose();
      x.dispose();
    });
  }

  it("extreme gates: ∂L/∂A_log of both forms against float64 central differences of the plain-JS reading", () => {
    const { built, x } = extremeGates(64);
    const xs = x.arraySync() as number[][][];
    const base = Array.from(built.param("A_log").dataSync());
    const lossAt = (h: number, eps: number): number => {
      const aLog = base.map((v, i) => (i === h ? v + eps : v));
      const lookup = (name: string) => (name === "A_log" ? aLog : Array.from(built.param(name).dataSync()));
      const ys = xs.flatMap((sample) => referenceForward(lookup, sample, d, heads, 8)).flat();
      return ys.reduce((s, v, i) => s + v * Math.sin(i * 0.37), 0);
    };
    const exact = tf.tensor(base.map((_, h) => (lossAt(h, 1e-6) - lossAt(h, -1e-6)) / 2e-6));
    const aLogGradient = (form: ComputeForm) => {
      const { grads } = built.valueAndGradients(x, form);
      return grads.get("A_log")!;
    };
    expect(relativeDiff(aLogGradient("stepwise"), exact)).toBeLessThan(1e-5);
    expect(relativeDiff(aLogGradient("chunked"), exact)).toBeLessThan(1e-3);
    built.dispose();
    x.dispose();
  });
});

describe("Mamba2 layer: streaming state", () => {
  it("a conv window [B, K−1, E + 2N] and S [B, n_h, N, P] (the kit checks they keep their shapes)", () => {
    const built = model.build(16, 2, 42, { dState: 8 });
    expect(built.layer.initialState(3).map((s) => s.shape)).toEqual([
      [3, 3, 2 * 16 + 16],
      [3, 4, 8, 8],
    ]);
    built.dispose();
  });
});

/**
 * An independent plain-JS reading of §4.2 for B = 1, from the parameter values: in_proj → [z, xBC, δ]; causal
 * depthwise conv (bias) + SiLU on xBC → [x, B, C]; Δ_h = softplus(δ_h + dt_bias_h); per head
 * h_t = exp(Δ a) h_{t−1} + Δ x_t B_tᵀ, y = h_t C_t + D x_t; RMSNorm_E(y ⊙ SiLU(z)) ⊙ w → out_proj. `p` gives a
 * parameter's values by its name inside the layer.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, heads: number, n: number): number[][] {
  const { linear, silu, softplus } = plain;
  const e = 2 * d;
  const hp = d / heads;
  const nh = e / hp;
  const ch = e + 2 * n;
  const projected = xs.map((x) => linear(x, p("in_proj.weight"), 2 * e + 2 * n + nh));
  const [convW, convB, dtBias, aLog, skip, normW] = [
    p("conv1d.weight"),
    p("conv1d.bias"),
    p("dt_bias"),
    p("A_log"),
    p("D"),
    p("norm.weight"),
  ];
  const state = plain.zeroStates(nh, hp, n);
  return xs.map((_, t) => {
    const xbc = Array.from({ length: ch }, (_, c) => {
      let s = convB[c]!;
      for (let j = 0; j < 4; j++) {
        const tau = t - 3 + j;
        if (tau >= 0) s += convW[j * ch + c]! * projected[tau]![e + c]!;
      }
      return silu(s);
    });
    const [bt, ct] = [xbc.slice(e, e + n), xbc.slice(e + n)];
    const gated: number[] = [];
    for (let h = 0; h < nh; h++) {
      const delta = softplus(projected[t]![2 * e + 2 * n + h]! + dtBias[h]!);
      const decay = Math.exp(-delta * Math.exp(aLog[h]!));
      for (let i = 0; i < hp; i++) {
        const xi = xbc[h * hp + i]!;
        let y = skip[h]! * xi;
        for (let k = 0; k < n; k++) {
          state[h]![i]![k] = decay * state[h]![i]![k]! + delta * xi * bt[k]!;
          y += state[h]![i]![k]! * ct[k]!;
        }
        gated.push(y * silu(projected[t]![h * hp + i]!));
      }
    }
    const rms = Math.sqrt(gated.reduce((s, v) => s + v * v, 0) / e + 1e-5);
    return linear(
      gated.map((v, c) => (v / rms) * normW[c]!),
      p("out_proj.weight"),
      d,
    );
  });
}

describe("Mamba2 layer: values match a plain-JS reading of §4.2", () => {
  it("d=8, H=2, N=4, T=7 (random D and norm weight, so their layouts matter)", () => {
    const built = model.build(8, 2, 3, { dState: 4, chunkSize: 3 });
    // Seeds 7 and 17 (the lengths of the full names "layer.D", "layer.norm.weight", as before).
    for (const [name, seed] of [
      ["D", 7],
      ["norm.weight", 17],
    ] as const)
      built.perturbAroundOne(name, seed);
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 2, 4));
    built.dispose();
  });
});

describe("Mamba2 parameters (docs/spec/MODELS.md §4.2, §7)", () => {
  it("parametersPerLayer = 6d² + 2dN + 2dH + 12d + 10N + 6H (N = 128) = the parameters created, at d = 16, 64, 256 (H = 4), with n_h = 2H", () => {
    model.expectParameterClosedForm((d, h) => 6 * d * d + 2 * d * 128 + 2 * d * h + 12 * d + 10 * 128 + 6 * h);
    for (const d of [16, 64, 256]) {
      const built = model.build(d, 4, 1);
      expect(built.layer.ssmHeads).toBe(2 * 4);
      built.dispose();
    }
  });

  it("the general formula follows the options (expand, convSize, dState)", () => {
    model.expectParameterCountsFollow([{ expand: 1 }, { expand: 1.5, convSize: 3 }, { dState: 7 }]);
  });

  it("§7.2 at d = 256: 465,176 per layer (N=128), 431,768 (N=64); stateSize is n_h·P·N = 2d·128", () => {
    expect(mamba2Definition.parametersPerLayer(256, 4, mamba2Defaults)).toBe(465_176);
    expect(checkParameterCount(mamba2Definition, contractConfig(mamba2Definition, { dState: 64 }), { dModel: 256, heads: 4 })).toBe(
      431_768,
    );
    expect(mamba2Definition.taxonomy.stateSize(256, 4)).toBe(8 * 64 * 128);
  });

  it("rejects widths that do not split into heads, and inverted init ranges", () => {
    expect(() => model.build(18, 4, 1)).toThrow(/divisible by heads/);
    expect(() => model.build(16, 2, 1, { expand: 1.25 })).toThrow(/multiple of headdim/);
    expect(() => model.build(16, 4, 1, { aInitMin: 16, aInitMax: 1 })).toThrow(/aInitMin/);
    expect(() => model.build(16, 4, 1, { dtMin: 0.2, dtMax: 0.1 })).toThrow(/dtMin/);
  });
});

describe("Mamba2 init (docs/spec/MODELS.md §4.2)", () => {
  it("is deterministic from the seed and follows the prescribed initialisations", () => {
    // d = 256 with H = 4 gives n_h = 8 heads; a wider head count checks the ranges with more draws.
    const [d, heads, n] = [64, 32, 4];
    const nh = 64;
    // Every randomly initialised tensor moves with the seed; D and the norm weight are constant 1. Conv weight and
    // bias keep PyTorch's default U(±1/√K); projections U(±1/√fan_in).
    const bounds = {
      "conv1d.weight": 0.5,
      "conv1d.bias": 0.5,
      "in_proj.weight": 1 / Math.sqrt(d),
      "out_proj.weight": 1 / Math.sqrt(2 * d),
    };
    model.expectInit({ d, heads }, { constants: { D: 1, "norm.weight": 1 }, bounds, overrides: { dState: n } });
    const a = model.build(d, heads, 123, { dState: n });
    expect(a.layer.ssmHeads).toBe(nh);
    expect(a.param("D").size).toBe(nh);

    // A = exp(A_log) ~ U(1, 16) per head.
    const aInit = Array.from(tf.exp(a.param("A_log")).dataSync());
    expect(Math.min(...aInit)).toBeGreaterThanOrEqual(1 - 1e-5);
    expect(Math.max(...aInit)).toBeLessThanOrEqual(16 * (1 + 1e-6));
    expect(Math.min(...aInit)).toBeLessThan(3);
    expect(Math.max(...aInit)).toBeGreaterThan(14);

    // dt_bias = softplus⁻¹(Δ₀), Δ₀ log-uniform in [1e-3, 0.1].
    const dt = Array.from(tf.softplus(a.param("dt_bias")).dataSync());
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(1e-3 * (1 - 1e-5));
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * (1 + 1e-5));
    expect(Math.min(...dt)).toBeLessThan(3e-3);
    expect(Math.max(...dt)).toBeGreaterThan(0.03);

    a.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts mamba2 in the model registry", () => {
    model.expectRegistered("scalar");
  });
});
