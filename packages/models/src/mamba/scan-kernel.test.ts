// Mamba's selective scan through the decayed linear scan's registered kernels (./scan-kernel.ts) ≡ core's step-by-step
// oracle (selectiveScanStepwise, on cpu): y and the gradients of x, Δ, A, B and C, at awkward sizes and small and large Δ. cpu and
// wasm run the fused Float32Array scan kernels; webgpu (where an adapter exists; CI: Mesa's lavapipe) the WGSL ones.
import { afterAll, describe, expect, it } from "vitest";
import { Rng, assertBackendHealthy, initBackend, probeWebgpu, selectiveScanStepwise, tf, type SelectiveScanInputs } from "@selectiv/core";
import { fitsSelectiveScanKernel, selectiveScanByLinearScan, selectiveScanInSampleGroups } from "./scan-kernel.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

// [batch, T, E, N, Δ offset before softplus]
const CASES = [
  [1, 1, 3, 2, 0],
  [3, 7, 5, 16, 0],
  [2, 23, 33, 3, -3],
  [1, 70, 4, 5, 3],
] as const;
const NAMES = ["y", "dx", "dΔ (raw)", "dA (log)", "dB", "dC"];

function draw(i: number) {
  const [bs, t, e, n, offset] = CASES[i]!;
  const rng = new Rng(70 + i);
  const normal = (size: number, scale = 1, shift = 0) => Float32Array.from({ length: size }, () => shift + scale * rng.normal());
  return {
    x: normal(bs * t * e),
    delta: normal(bs * t * e, 1, offset),
    aLog: normal(e * n, 0.5, 0.5),
    b: normal(bs * t * n),
    c: normal(bs * t * n),
  };
}

/** The kernel form in groups of samples: a budget of this many floats per [B, E, T, N] tensor forces one sample each. */
const ONE_SAMPLE = (i: number) => {
  const [, t, e, n] = CASES[i]!;
  return t * e * n;
};

async function evaluate(i: number, form: "stepwise" | "kernel" | "sample-groups"): Promise<Float32Array[]> {
  const [bs, t, e, n] = CASES[i]!;
  const d = draw(i);
  const results = tf.tidy(() => {
    const xs = [
      tf.tensor3d(d.x, [bs, t, e]),
      tf.tensor3d(d.delta, [bs, t, e]),
      tf.tensor2d(d.aLog, [e, n]),
      tf.tensor3d(d.b, [bs, t, n]),
      tf.tensor3d(d.c, [bs, t, n]),
    ];
    // Δ = softplus(·) > 0 and A = −exp(A_log) < 0, as in the layer.
    const scan = (...v: tf.Tensor[]) => {
      const inputs: SelectiveScanInputs = {
        x: v[0] as tf.Tensor3D,
        delta: tf.softplus(v[1]!) as tf.Tensor3D,
        a: tf.neg(tf.exp(v[2]!)) as tf.Tensor2D,
        b: v[3] as tf.Tensor3D,
        c: v[4] as tf.Tensor3D,
      };
      if (form === "sample-groups") return selectiveScanInSampleGroups(inputs, ONE_SAMPLE(i));
      return form === "stepwise" ? selectiveScanStepwise(inputs).y : selectiveScanByLinearScan(inputs);
    };
    const weights = tf.sin(tf.range(0, bs * t * e).reshape([bs, t, e]));
    const grads = tf.grads((...v: tf.Tensor[]) => tf.sum(tf.mul(scan(...v), weights)))(xs);
    return [scan(...xs), ...grads];
  });
  const values = await Promise.all(results.map((x) => x.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

const oracles = new Map<number, Float32Array[]>();
async function oracle(i: number) {
  if (!oracles.has(i)) {
    await initBackend("cpu");
    oracles.set(i, await evaluate(i, "stepwise"));
  }
  return oracles.get(i)!;
}

function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  want.forEach((w, k) => {
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]!));
      worst = Math.max(worst, Math.abs(got[k]![j]! - w[j]!));
    }
    expect(worst / scale, `${name}: ${NAMES[k]}`).toBeLessThan(1e-4);
  });
}

const label = (i: number) => {
  const [bs, t, e, n, offset] = CASES[i]!;
  return `B=${bs}, T=${t}, E=${e}, N=${n}, Δ offset ${offset}`;
};

describe("selective scan as the linear scan's registered kernels ≡ step-by-step oracle (y and every gradient)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });
  for (const backend of ["cpu", "wasm"] as const) {
    CASES.forEach((_, i) => {
      it(`${backend}: ${label(i)}`, async () => {
        const want = await oracle(i);
        await initBackend(backend);
        expectClose(await evaluate(i, "kernel"), want, label(i));
      });
    });
  }
  it("in groups of one sample (a budget below two samples' tensors): the oracle's values and gradients", async () => {
    for (const i of [1, 2]) {
      const want = await oracle(i);
      await initBackend("cpu");
      expectClose(await evaluate(i, "sample-groups"), want, `${label(i)}, one sample per group`);
    }
    const x = tf.zeros([3, 7, 5]) as tf.Tensor3D;
    const inputs: SelectiveScanInputs = {
      x,
      delta: x,
      a: tf.zeros([5, 16]) as tf.Tensor2D,
      b: tf.zeros([3, 7, 16]) as tf.Tensor3D,
      c: tf.zeros([3, 7, 16]) as tf.Tensor3D,
    };
    expect(fitsSelectiveScanKernel(inputs, 7 * 5 * 16)).toBe(true);
    expect(fitsSelectiveScanKernel(inputs, 7 * 5 * 16 - 1)).toBe(false);
    tf.dispose([x, inputs.a, inputs.b, inputs.c]);
  });
  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });
  CASES.forEach((_, i) => {
    it.runIf(probe.ok)(
      `webgpu (WGSL): ${label(i)}`,
      async () => {
        const want = await oracle(i);
        await initBackend("webgpu");
        expectClose(await evaluate(i, "kernel"), want, label(i));
        assertBackendHealthy();
      },
      120_000,
    );
  });
});
