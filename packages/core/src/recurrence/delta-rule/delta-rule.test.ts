import { describe, expect, it } from "vitest";
import { Rng } from "../../rng.js";
import { tf } from "../../tf.js";
import { maxAbs, maxDiff, randn } from "../test-tensors.fixture.js";
import { deltaRuleChunked, deltaRuleStepwise, unitLowerInverse, type DeltaRuleInputs } from "./index.js";
import { fusedDeltaRule } from "./fused.js";

const l2 = (x: tf.Tensor): tf.Tensor => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6)));

interface Raw {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  beta: tf.Tensor;
  gate: tf.Tensor;
  s0: tf.Tensor;
}

function raw(t: number, seed: number, opts: { parallel?: boolean; gateOffset?: number } = {}): Raw {
  const rng = new Rng(seed);
  const [b, h, dk, dv] = [2, 2, 4, 3];
  const base = randn(rng, [b, h, 1, dk]);
  const k = opts.parallel ? tf.add(tf.broadcastTo(base, [b, h, t, dk]), randn(rng, [b, h, t, dk], 0.05)) : randn(rng, [b, h, t, dk]);
  return {
    q: randn(rng, [b, h, t, dk]),
    k,
    v: randn(rng, [b, h, t, dv]),
    beta: randn(rng, [b, h, t]),
    gate: randn(rng, [b, h, t], 1, opts.gateOffset ?? 0),
    s0: randn(rng, [b, h, dk, dv], 0.3),
  };
}

/** The layer-side maths: L2-normalised q, k; β = scale·σ(·) (scale 2 allows negative eigenvalues); log α = −softplus(−gate). */
function build(
  r: { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor; beta: tf.Tensor; gate: tf.Tensor },
  betaScale: number,
  gated: boolean,
): DeltaRuleInputs {
  return {
    query: tf.mul(l2(r.q), 0.5) as tf.Tensor4D,
    key: l2(r.k) as tf.Tensor4D,
    value: r.v as tf.Tensor4D,
    beta: tf.mul(tf.sigmoid(r.beta), betaScale) as tf.Tensor3D,
    logAlpha: gated ? (tf.neg(tf.softplus(tf.neg(r.gate))) as tf.Tensor3D) : undefined,
  };
}

describe("unit lower-triangular inverse by forward substitution", () => {
  it("(I + A) · inverse = I", () => {
    const a = tf.mul(randn(new Rng(3), [2, 7, 7]), tf.linalg.bandPart(tf.ones([7, 7]), -1, 0).sub(tf.eye(7)));
    const inv = unitLowerInverse(a);
    expect(maxDiff(tf.matMul(tf.add(a, tf.eye(7)), inv), tf.broadcastTo(tf.eye(7), [2, 7, 7]))).toBeLessThan(1e-4);
  });
});

describe("delta rule: chunked (WY/UT) and fused forms ≡ step-by-step oracle", () => {
  const cases: [number, number][] = [
    [1, 16],
    [5, 16],
    [16, 16],
    [37, 16],
    [37, 8],
  ];
  for (const fused of [false, true])
    for (const gated of [false, true]) {
      for (const betaScale of [1, 2]) {
        for (const [t, c] of cases) {
          if (fused && c !== 16) continue;
          const fast = (inp: DeltaRuleInputs, s0?: tf.Tensor4D) =>
            fused ? fusedDeltaRule(inp, s0) : deltaRuleChunked(inp, { chunkSize: c }, s0);
          it(`${fused ? "fused" : "chunked"}, ${gated ? "gated" : "plain"}, β ∈ (0,${betaScale}), T=${t}, C=${c}: values, state and gradients`, () => {
            const r = raw(t, 1000 + t * 13 + c + betaScale);
            const inputs = build(r, betaScale, gated);
            const a = fast(inputs, r.s0 as tf.Tensor4D);
            const o = deltaRuleStepwise(inputs, r.s0 as tf.Tensor4D);
            expect(maxDiff(a.output, o.output)).toBeLessThan(2e-5 * Math.max(1, maxAbs(o.output)));
            expect(maxDiff(a.state, o.state)).toBeLessThan(2e-5 * Math.max(1, maxAbs(o.state)));
            const xs = gated ? [r.q, r.k, r.v, r.beta, r.s0, r.gate] : [r.q, r.k, r.v, r.beta, r.s0];
            const loss =
              (chunked: boolean) =>
              (...x: tf.Tensor[]) => {
                const inp = build({ q: x[0]!, k: x[1]!, v: x[2]!, beta: x[3]!, gate: x[5] ?? r.gate }, betaScale, gated);
                const res = chunked ? fast(inp, x[4] as tf.Tensor4D) : deltaRuleStepwise(inp, x[4] as tf.Tensor4D);
                const w1 = tf.sin(tf.range(0, res.output.size).reshape(res.output.shape));
                const w2 = tf.cos(tf.range(0, res.state.size).reshape(res.state.shape));
                return tf.add(tf.sum(tf.mul(res.output, w1)), tf.sum(tf.mul(res.state, w2))) as tf.Scalar;
              };
            const ga = tf.grads(loss(true))(xs);
            const go = tf.grads(loss(false))(xs);
            for (let i = 0; i < xs.length; i++)
              expect(maxDiff(ga[i]!, go[i]!), `grad ${i}`).toBeLessThan(1e-4 * Math.max(1, maxAbs(go[i]!)));
          });
        }
      }
    }

  it("stays exact with nearly parallel keys and β near 2 (§9.5)", () => {
    const r = raw(40, 5, { parallel: true });
    const inputs = { ...build(r, 2, true), beta: tf.fill([2, 2, 40], 1.98) as tf.Tensor3D };
    const o = deltaRuleStepwise(inputs);
    for (const a of [deltaRuleChunked(inputs, { chunkSize: 16 }), fusedDeltaRule(inputs)]) {
      expect(Number.isFinite(maxAbs(a.output))).toBe(true);
      expect(maxDiff(a.output, o.output)).toBeLessThan(1e-4 * Math.max(1, maxAbs(o.output)));
    }
  });

  it("stays exact with strong decays (Gated DeltaNet, log α ≈ −16 per step)", () => {
    const r = raw(40, 6, { gateOffset: -16 });
    const inputs = { ...build(r, 1, true), logAlpha: tf.fill([2, 2, 40], -16) as tf.Tensor3D };
    const o = deltaRuleStepwise(inputs);
    for (const a of [deltaRuleChunked(inputs, { chunkSize: 16 }), fusedDeltaRule(inputs)]) {
      expect(Number.isFinite(maxAbs(a.output))).toBe(true);
      expect(maxDiff(a.output, o.output)).toBeLessThan(1e-5 * Math.max(1, maxAbs(o.output)));
    }
  });
});
