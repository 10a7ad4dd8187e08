import { describe, expect, it } from "vitest";
import { Rng } from "../../rng.js";
import { tf } from "../../tf.js";
import { maxDiff, randn } from "../test-tensors.fixture.js";
import { fusedScan } from "./fused.js";
import { chunkedScan, stepwiseScan, type Decay, type RecurrenceInputs } from "./index.js";

function maxAbs(a: tf.Tensor): number {
  return tf.max(tf.abs(a)).dataSync()[0]!;
}

type Kind = Decay["kind"];

function makeInputs(kind: Kind, t: number, logAlphaOffset: number, seed: number) {
  const rng = new Rng(seed);
  const [b, h, dk, dv] = [2, 2, 4, 3];
  const q = randn(rng, [b, h, t, dk], 0.5) as tf.Tensor4D;
  const k = randn(rng, [b, h, t, dk], 0.5) as tf.Tensor4D;
  const v = randn(rng, [b, h, t, dv]) as tf.Tensor4D;
  const raw = kind === "diagonal" ? randn(rng, [b, h, t, dk], 1, logAlphaOffset) : randn(rng, [b, h, t], 1, logAlphaOffset);
  const s0 = randn(rng, [b, h, dk, dv], 0.3) as tf.Tensor4D;
  return { q, k, v, raw, s0 };
}

function build(kind: Kind, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, raw: tf.Tensor): RecurrenceInputs {
  // log α = −softplus(−x): any real x gives a valid log-decay.
  const logAlpha = tf.neg(tf.softplus(tf.neg(raw)));
  const decay: Decay =
    kind === "none"
      ? { kind }
      : kind === "scalar"
        ? { kind, logAlpha: logAlpha as tf.Tensor3D }
        : { kind, logAlpha: logAlpha as tf.Tensor4D };
  return { query: q, key: k, value: v, decay };
}

type Form = "chunked" | "fused";

describe("decayed linear recurrence: chunked and fused forms ≡ step-by-step oracle", () => {
  const kinds: Kind[] = ["none", "scalar", "diagonal"];
  const cases: [number, number][] = [
    [1, 16],
    [5, 16],
    [16, 16],
    [37, 16],
    [37, 8],
    [20, 3],
  ];
  for (const form of ["chunked", "fused"] as Form[])
    for (const kind of kinds) {
      for (const [t, c] of cases) {
        if (form === "fused" && c !== 16) continue; // the fused kernel has no chunk size
        it(`${form}: ${kind} decay, T=${t}, C=${c}: outputs, final state and gradients agree`, () => {
          const fast = (inp: RecurrenceInputs, s0: tf.Tensor4D) =>
            form === "chunked" ? chunkedScan(inp, { chunkSize: c }, s0) : fusedScan(inp, s0);
          const { q, k, v, raw, s0 } = makeInputs(kind, t, 0, 100 + t * 7 + c);
          const loss = (which: "chunked" | "stepwise") => (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, rr: tf.Tensor, ss: tf.Tensor) => {
            const inp = build(kind, qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, rr);
            const r = which === "chunked" ? fast(inp, ss as tf.Tensor4D) : stepwiseScan(inp, ss as tf.Tensor4D);
            // Weighted sum so every output and state entry gets a distinct gradient.
            const w1 = tf.sin(tf.range(0, r.output.size).reshape(r.output.shape));
            const w2 = tf.cos(tf.range(0, r.state.size).reshape(r.state.shape));
            return tf.add(tf.sum(tf.mul(r.output, w1)), tf.sum(tf.mul(r.state, w2))) as tf.Scalar;
          };
          const a = fast(build(kind, q, k, v, raw), s0 as tf.Tensor4D);
          const o = stepwiseScan(build(kind, q, k, v, raw), s0);
          expect(a.output.shape).toEqual(o.output.shape);
          expect(maxDiff(a.output, o.output)).toBeLessThan(1e-5 * Math.max(1, maxAbs(o.output)));
          expect(maxDiff(a.state, o.state)).toBeLessThan(1e-5 * Math.max(1, maxAbs(o.state)));
          // With no decay the raw gate is unused: differentiate with respect to the others only.
          const xs = kind === "none" ? [q, k, v, s0] : [q, k, v, s0, raw];
          const f =
            (form: "chunked" | "stepwise") =>
            (...a: tf.Tensor[]) =>
              loss(form)(a[0]!, a[1]!, a[2]!, a[4] ?? raw, a[3]!);
          const ga = tf.grads(f("chunked"))(xs);
          const go = tf.grads(f("stepwise"))(xs);
          for (let i = 0; i < ga.length; i++) {
            expect(maxDiff(ga[i]!, go[i]!)).toBeLessThan(2e-5 * Math.max(1, maxAbs(go[i]!)));
          }
        });
      }
    }

  it("diagonal decay stays finite and exact with very strong decays (GLA gate logits near −30)", () => {
    const t = 40;
    const { q, k, v } = makeInputs("diagonal", t, 0, 7);
    // log α = logsigmoid(−30)/16 ≈ −1.875 per step, as in GLA with its 1/16 normaliser.
    const raw = tf.fill([2, 2, t, 4], -30);
    const logAlpha = tf.div(tf.neg(tf.softplus(tf.neg(raw))), 16) as tf.Tensor4D;
    const inp: RecurrenceInputs = { query: q, key: k, value: v, decay: { kind: "diagonal", logAlpha } };
    const o = stepwiseScan(inp);
    for (const a of [chunkedScan(inp, { chunkSize: 16 }), fusedScan(inp)]) {
      expect(Number.isFinite(maxAbs(a.output))).toBe(true);
      expect(maxDiff(a.output, o.output)).toBeLessThan(1e-5 * Math.max(1, maxAbs(o.output)));
    }
  });

  it("query and key with one head shared by every head (Mamba2's B and C) give the same as tiled ones", () => {
    const rng = new Rng(77);
    const [b, h, t, dk, dv] = [2, 3, 21, 4, 2];
    const q1 = randn(rng, [b, 1, t, dk]) as tf.Tensor4D;
    const k1 = randn(rng, [b, 1, t, dk]) as tf.Tensor4D;
    const v = randn(rng, [b, h, t, dv]) as tf.Tensor4D;
    const logAlpha = tf.neg(tf.softplus(randn(rng, [b, h, t]))) as tf.Tensor3D;
    const tiled = {
      query: tf.tile(q1, [1, h, 1, 1]) as tf.Tensor4D,
      key: tf.tile(k1, [1, h, 1, 1]) as tf.Tensor4D,
      value: v,
      decay: { kind: "scalar", logAlpha } as Decay,
    };
    const shared = { ...tiled, query: q1, key: k1 };
    const o = stepwiseScan(tiled);
    for (const [name, a] of [
      ["chunked", chunkedScan(shared, { chunkSize: 8 })],
      ["fused", fusedScan(shared)],
      ["stepwise", stepwiseScan(shared)],
    ] as const) {
      expect(maxDiff(a.output, o.output), name).toBeLessThan(1e-5 * Math.max(1, maxAbs(o.output)));
    }
    const f = (fn: (x: RecurrenceInputs) => { output: tf.Tensor }) => (qq: tf.Tensor, kk: tf.Tensor) =>
      tf.sum(tf.sin(fn({ ...shared, query: qq as tf.Tensor4D, key: kk as tf.Tensor4D }).output)) as tf.Scalar;
    // Reference gradient through explicit tiling (tile's gradient sums over the copies).
    const tiledFn = (x: RecurrenceInputs) =>
      stepwiseScan({ ...x, query: tf.tile(x.query, [1, h, 1, 1]) as tf.Tensor4D, key: tf.tile(x.key, [1, h, 1, 1]) as tf.Tensor4D });
    const g0 = tf.grads(f(tiledFn))([q1, k1]);
    for (const fn of [(x: RecurrenceInputs) => chunkedScan(x, { chunkSize: 8 }), (x: RecurrenceInputs) => fusedScan(x), stepwiseScan]) {
      const g = tf.grads(f(fn))([q1, k1]);
      for (let i = 0; i < 2; i++) expect(maxDiff(g[i]!, g0[i]!), `${fn.name} grad ${i}`).toBeLessThan(1e-4 * Math.max(1, maxAbs(g0[i]!)));
    }
  });
});
