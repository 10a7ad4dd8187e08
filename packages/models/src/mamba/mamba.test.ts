// Mamba (docs/spec/MODELS.md §4.1): the model contract from @selectiv/core/testkit (the training form is the fused scan with
// the §6.5 adjoint gradient), then what is particular to Mamba: large Δ (§9.5), a plain-JS reading of §4.1, the
// state's shapes, the §7 figures and the §4.1 initialisations.
import { describe, expect, it } from "vitest";
import { Rng, tf } from "@selectiv/core";
import { checkParameterCount, contractConfig, describeModelContract } from "@selectiv/core/testkit";
import { maxAbs, modelTests, plain, randomTensor } from "../shared/test-helpers.js";
import { mambaDefaults, type MambaConfig } from "./config.js";
import { mambaDefinition } from "./definition.js";
import type { Mamba } from "./layer.js";

const model = modelTests<MambaConfig, Mamba>(mambaDefinition);

// The defaults have N = 128 (A down to −128); the variant a small N.
describeModelContract(mambaDefinition, { describe, it, variants: { "N = 8": { dState: 8 } } });

describe("Mamba layer (docs/spec/MODELS.md §4.1, §9.5): extreme gates", () => {
  const d = 16;
  it("large Δ (dt bias 20, so Δ·A ≤ −10 everywhere): finite and agreeing", () => {
    const built = model.build(d, 2, 5, { dState: 8 });
    const bias = built.param("dt_proj.bias");
    bias.assign(tf.fill(bias.shape, 20));
    const x = tf.variable(randomTensor(new Rng(9), [2, 37, d]));
    // Δ really is large: recompute it from the parameters (x → in_proj → conv → x_proj[:R] → dt_proj → softplus).
    const delta = tf.tidy(() => {
      const e = 2 * d;
      const xz = tf.matMul(tf.reshape(x, [-1, d]), built.param("in_proj.weight"));
      const u = tf.slice(tf.reshape(xz, [2, 37, 2 * e]), [0, 0, 0], [2, 37, e]);
      const w = built.param("conv1d.weight");
      const padded = tf.pad(u, [
        [0, 0],
        [3, 0],
        [0, 0],
      ]);
      let c: tf.Tensor = built.param("conv1d.bias");
      for (let j = 0; j < 4; j++)
        c = tf.add(c, tf.mul(tf.slice(padded, [0, j, 0], [2, 37, e]), tf.reshape(tf.slice(w, [j, 0], [1, e]), [e])));
      const conv = tf.mul(c, tf.sigmoid(c));
      const r = Math.ceil(d / 16);
      const dt = tf.slice(tf.matMul(tf.reshape(conv, [-1, e]), built.param("x_proj.weight")), [0, 0], [2 * 37, r]);
      return tf.softplus(tf.add(tf.matMul(dt, built.param("dt_proj.weight")), bias));
    });
    expect(tf.min(delta).dataSync()[0]!).toBeGreaterThan(10);
    built.expectFormsAgree(x);
    built.dispose();
    x.dispose();
    delta.dispose();
  });
});

describe("Mamba layer: streaming state", () => {
  it("a conv window [B, K−1, E] and h [B, E, N] (the kit checks they keep their shapes)", () => {
    const built = model.build(16, 2, 42, { dState: 8 });
    expect(built.layer.initialState(3).map((s) => s.shape)).toEqual([
      [3, 3, 32],
      [3, 32, 8],
    ]);
    built.dispose();
  });
});

/**
 * An independent plain-JS reading of §4.1 for B = 1, from the parameter values: in_proj → [x, z]; causal
 * depthwise conv (bias) + SiLU on x; x_proj → [δ, B, C]; Δ = softplus(dt_proj(δ)); A = −exp(A_log);
 * h_t = exp(ΔA) h_{t−1} + Δ B x; y = C·h + D x; y ⊙ SiLU(z) → out_proj.
 */
function referenceForward(p: (name: string) => number[], xs: number[][], d: number, n: number): number[][] {
  const { linear, silu, softplus } = plain;
  const e = 2 * d;
  const r = Math.ceil(d / 16);
  const xz = xs.map((x) => linear(x, p("in_proj.weight"), 2 * e));
  const [convW, convB, aLog, skip] = [p("conv1d.weight"), p("conv1d.bias"), p("A_log"), p("D")];
  const h = Array.from({ length: e }, () => new Array<number>(n).fill(0));
  return xs.map((_, t) => {
    const u = Array.from({ length: e }, (_, c) => {
      let s = convB[c]!;
      for (let j = 0; j < 4; j++) {
        const tau = t - 3 + j;
        if (tau >= 0) s += convW[j * e + c]! * xz[tau]![c]!;
      }
      return silu(s);
    });
    const proj = linear(u, p("x_proj.weight"), r + 2 * n);
    const delta = linear(proj.slice(0, r), p("dt_proj.weight"), e, p("dt_proj.bias")).map(softplus);
    const [bt, ct] = [proj.slice(r, r + n), proj.slice(r + n)];
    const gated = u.map((uc, c) => {
      let y = skip[c]! * uc;
      for (let k = 0; k < n; k++) {
        h[c]![k] = Math.exp(delta[c]! * -Math.exp(aLog[c * n + k]!)) * h[c]![k]! + delta[c]! * bt[k]! * uc;
        y += ct[k]! * h[c]![k]!;
      }
      return y * silu(xz[t]![e + c]!);
    });
    return linear(gated, p("out_proj.weight"), d);
  });
}

describe("Mamba layer: values match a plain-JS reading of §4.1", () => {
  it("d=8, N=4, T=7 (random D, so the skip's layout matters)", () => {
    const built = model.build(8, 2, 3, { dState: 4 });
    const skip = built.param("D");
    skip.assign(randomTensor(new Rng(4), skip.shape));
    built.expectMatchesReference(7, (xs) => referenceForward(built.values, xs, 8, 4));
    built.dispose();
  });
});

describe("Mamba parameters (docs/spec/MODELS.md §4.1, §7)", () => {
  it("parametersPerLayer = 6d² + 4dR + 6dN + 14d (N = 128, R = ⌈d/16⌉) = the parameters created, at d = 16, 64, 256 (H = 4)", () => {
    model.expectParameterClosedForm((d) => 6 * d * d + 4 * d * Math.ceil(d / 16) + 6 * d * 128 + 14 * d);
  });

  it("the general formula follows the options (dtRank, expand, convSize, dState)", () => {
    model.expectParameterCountsFollow([{ dtRank: 5 }, { expand: 1.5, convSize: 3 }, { dState: 7 }]);
  });

  it("§7.2 at d = 256: 609,792 per layer (N=128), 511,488 (N=64); stateSize is E·N = 2d·128", () => {
    expect(mambaDefinition.parametersPerLayer(256, 4, mambaDefaults)).toBe(609_792);
    expect(checkParameterCount(mambaDefinition, contractConfig(mambaDefinition, { dState: 64 }), { dModel: 256, heads: 4 })).toBe(511_488);
    expect(mambaDefinition.taxonomy.stateSize(256, 4)).toBe(512 * 128);
  });

  it("rejects a non-integer inner width and an inverted dt range", () => {
    expect(() => model.build(15, 4, 1, { expand: 1.5 })).toThrow(/inner width/);
    expect(() => model.build(16, 4, 1, { dtMin: 0.2, dtMax: 0.1 })).toThrow(/dtMin/);
  });
});

describe("Mamba init (docs/spec/MODELS.md §4.1)", () => {
  it("is deterministic from the seed and follows the prescribed initialisations", () => {
    const [d, n] = [64, 16];
    const [e, r] = [2 * d, 4];
    // Every randomly initialised tensor moves with the seed; A_log (S4D-real) and D = 1 do not. dt_proj weight
    // ~ U(±R^{−1/2}); conv weight and bias PyTorch default U(±1/√K); projections U(±1/√fan_in).
    const bounds = {
      "dt_proj.weight": 1 / Math.sqrt(r),
      "conv1d.weight": 0.5,
      "conv1d.bias": 0.5,
      "in_proj.weight": 1 / Math.sqrt(d),
      "x_proj.weight": 1 / Math.sqrt(e),
      "out_proj.weight": 1 / Math.sqrt(e),
    };
    model.expectInit({ d, heads: 4 }, { constants: { D: 1 }, deterministic: ["A_log"], bounds, overrides: { dState: n } });
    const a = model.build(d, 4, 123, { dState: n });

    // A_log[e, n] = log(n + 1) in every channel (S4D-real).
    const aLog = a.param("A_log").arraySync() as number[][];
    expect(aLog.length).toBe(e);
    for (const row of aLog) row.forEach((v, k) => expect(v).toBeCloseTo(Math.log(k + 1), 6));

    // dt bias = softplus⁻¹(Δ₀), Δ₀ log-uniform in [1e-3, 0.1]: softplus(bias) spans the range, in log space.
    const dt = Array.from(tf.softplus(a.param("dt_proj.bias")).dataSync());
    expect(dt.length).toBe(e);
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(1e-3 * (1 - 1e-5));
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * (1 + 1e-5));
    expect(Math.min(...dt)).toBeLessThan(2e-3);
    expect(Math.max(...dt)).toBeGreaterThan(0.05);
    const meanLog = dt.reduce((s, v) => s + Math.log(v), 0) / dt.length;
    expect(Math.abs(meanLog - (Math.log(1e-3) + Math.log(0.1)) / 2)).toBeLessThan(0.5);

    // The dt_proj weight bound is nearly reached: U(±R^{−1/2}), not a narrower range.
    expect(maxAbs(a.param("dt_proj.weight"))).toBeGreaterThan(0.8 / Math.sqrt(r));
    a.dispose();
  });

  it("the dt floor applies when the range lies below it", () => {
    const built = model.build(16, 4, 1, { dState: 4, dtMin: 1e-6, dtMax: 1e-5, dtInitFloor: 1e-4 });
    const dt = Array.from(tf.softplus(built.param("dt_proj.bias")).dataSync());
    for (const v of dt) expect(Math.abs(v - 1e-4) / 1e-4).toBeLessThan(1e-4);
    built.dispose();
  });
});

describe("registration", () => {
  it("registerModels puts mamba in the model registry (complementary gating)", () => {
    model.expectRegistered("diagonal");
    expect(mambaDefinition.taxonomy.complementaryGating).toBe(true);
  });
});
