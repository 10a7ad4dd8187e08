import { describe, expect, it } from "vitest";
import { Rng } from "../../rng.js";
import { tf } from "../../tf.js";
import { maxAbs, maxDiff, randn } from "../test-tensors.fixture.js";
import { selectiveScan, selectiveScanStepwise, type SelectiveScanInputs } from "./index.js";

function build(x: tf.Tensor, dRaw: tf.Tensor, aLog: tf.Tensor, b: tf.Tensor, c: tf.Tensor): SelectiveScanInputs {
  // Δ = softplus(·) > 0 and A = −exp(A_log) < 0, as in the layer.
  return {
    x: x as tf.Tensor3D,
    delta: tf.softplus(dRaw) as tf.Tensor3D,
    a: tf.neg(tf.exp(aLog)) as tf.Tensor2D,
    b: b as tf.Tensor3D,
    c: c as tf.Tensor3D,
  };
}

describe("selective scan: fused op with hand-written gradient ≡ step-by-step oracle", () => {
  for (const [t, e, n, dOffset] of [
    [1, 3, 2, 0],
    [7, 5, 4, 0],
    [23, 4, 3, -2],
    [12, 3, 5, 2],
  ] as const) {
    it(`T=${t}, E=${e}, N=${n}, Δ offset ${dOffset}: values and gradients`, () => {
      const rng = new Rng(t * 31 + e);
      const xs = [
        randn(rng, [2, t, e]),
        randn(rng, [2, t, e], 1, dOffset),
        randn(rng, [e, n], 0.5, 0.5),
        randn(rng, [2, t, n]),
        randn(rng, [2, t, n]),
      ];
      const fused = selectiveScan(build(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!));
      const oracle = selectiveScanStepwise(build(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!)).y;
      expect(maxDiff(fused, oracle)).toBeLessThan(1e-5 * Math.max(1, maxAbs(oracle)));
      const loss =
        (useFused: boolean) =>
        (...v: tf.Tensor[]) => {
          const inp = build(v[0]!, v[1]!, v[2]!, v[3]!, v[4]!);
          const y = useFused ? selectiveScan(inp) : selectiveScanStepwise(inp).y;
          return tf.sum(tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape)))) as tf.Scalar;
        };
      const ga = tf.grads(loss(true))(xs);
      const go = tf.grads(loss(false))(xs);
      for (let i = 0; i < xs.length; i++) expect(maxDiff(ga[i]!, go[i]!), `grad ${i}`).toBeLessThan(1e-4 * Math.max(1, maxAbs(go[i]!)));
    });
  }
});
