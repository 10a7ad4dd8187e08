// Causal attention's registered kernels (./attention-kernel.ts) ≡ its TF-op form (causalAttentionOps, what cpu and
// wasm train with), values and the gradients of q, k and v, at awkward sizes (T = 1, 7, 70, 130; head sizes 3, 16,
// 33; a value width unlike the key width; batch and heads 1 and 3) and at large scores (inputs ×10: near one-hot
// weights). cpu and wasm kernels everywhere; the WGSL kernels where a WebGPU adapter exists (CI: Mesa's lavapipe;
// SELECTIV_REQUIRE_WEBGPU=1 makes a missing one fail).
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { causalAttentionOps } from "./attention.js";
import { causalAttentionKernel, webgpuAttentionForm } from "./attention-kernel.js";
import { TILE_BYTES, tilesFit } from "./attention-tiles.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

interface Case {
  readonly B: number;
  readonly H: number;
  readonly T: number;
  readonly D: number;
  readonly Dv: number;
  readonly magnitude: number;
}

const CASES: Case[] = [
  { B: 1, H: 1, T: 1, D: 3, Dv: 3, magnitude: 1 },
  { B: 3, H: 3, T: 7, D: 16, Dv: 16, magnitude: 1 },
  { B: 1, H: 3, T: 70, D: 33, Dv: 33, magnitude: 1 },
  { B: 3, H: 1, T: 130, D: 16, Dv: 16, magnitude: 1 },
  { B: 3, H: 3, T: 70, D: 3, Dv: 5, magnitude: 1 },
  { B: 1, H: 3, T: 130, D: 33, Dv: 33, magnitude: 1 },
  { B: 3, H: 1, T: 70, D: 16, Dv: 16, magnitude: 10 },
  { B: 1, H: 3, T: 7, D: 33, Dv: 33, magnitude: 10 },
  // A 64-wide head (32-row staged tiles) over 4 workgroups of rows, the last one partial.
  { B: 2, H: 1, T: 200, D: 64, Dv: 64, magnitude: 1 },
  // Rows wider than 64: two and three column groups per invocation in the tiled programs.
  { B: 1, H: 2, T: 130, D: 80, Dv: 72, magnitude: 1 },
  { B: 2, H: 1, T: 65, D: 130, Dv: 40, magnitude: 1 },
];

const label = (c: Case) => `B=${c.B}, H=${c.H}, T=${c.T}, D=${c.D}, Dv=${c.Dv}${c.magnitude === 1 ? "" : `, inputs ×${c.magnitude}`}`;

function draw(c: Case, seed: number) {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => c.magnitude * rng.normal());
  const n = c.B * c.H * c.T;
  return { q: normal(n * c.D), k: normal(n * c.D), v: normal(n * c.Dv) };
}

type Drawn = ReturnType<typeof draw>;
const NAMES = ["o", "dq", "dk", "dv"];

/** o and the gradients of Σ o ⊙ sin(i) with respect to q, k and v. */
async function evaluate(c: Case, d: Drawn, form: "ops" | "kernel" | "kernel-by-time"): Promise<Float32Array[]> {
  const scale = 1 / Math.sqrt(c.D);
  const results = tf.tidy(() => {
    const q = tf.tensor4d(d.q, [c.B, c.H, c.T, c.D]);
    const k = tf.tensor4d(d.k, [c.B, c.H, c.T, c.D]);
    const v = tf.tensor4d(d.v, [c.B, c.H, c.T, c.Dv]);
    // Query blocks of 32 in the TF-op form: several blocks at T = 70 and 130.
    // Time-major: the kernels take [B, T, H, ·] (transposed here, so every gradient comes back lane-major).
    const swap = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]);
    const apply = (a: tf.Tensor4D, b: tf.Tensor4D, e: tf.Tensor4D) =>
      form === "ops"
        ? causalAttentionOps(a, b, e, scale, 32)
        : form === "kernel"
          ? causalAttentionKernel(a, b, e, scale)
          : swap(causalAttentionKernel(swap(a), swap(b), swap(e), scale, true));
    const weights = tf.sin(tf.range(0, c.B * c.H * c.T * c.Dv).reshape([c.B, c.H, c.T, c.Dv]));
    const o = apply(q, k, v);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, e: tf.Tensor) =>
      tf.sum(tf.mul(apply(a as tf.Tensor4D, b as tf.Tensor4D, e as tf.Tensor4D), weights)),
    )([q, k, v]);
    return [o, ...grads];
  });
  const values = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(results);
  return values;
}

/** Every value within 1e-4 of the reference, relative to max(1, |reference|). */
function expectClose(got: Float32Array[], want: Float32Array[], name: string) {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.length, `${name}: ${NAMES[i]} size`).toBe(w.length);
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(g[j]! - w[j]!) / Math.max(1, Math.abs(w[j]!)));
    expect(worst, `${name}: ${NAMES[i]}`).toBeLessThan(1e-4);
  });
}

const oracles = new Map<number, Float32Array[]>();
async function oracle(i: number, c: Case, d: Drawn) {
  if (!oracles.has(i)) {
    await initBackend("cpu");
    oracles.set(i, await evaluate(c, d, "ops"));
  }
  return oracles.get(i)!;
}

describe("causal attention: which WGSL form a device gets", () => {
  it("tiles need 29 KiB of workgroup memory and rows of at most 4 × 64 floats; rows otherwise", () => {
    expect(TILE_BYTES).toBe(29_440);
    expect(tilesFit(64, 64, 16_384)).toBe(false); // WebGPU's default limit
    expect(tilesFit(64, 64, 32_768)).toBe(true); // lavapipe
    expect(tilesFit(256, 3, 49_152)).toBe(true);
    expect(tilesFit(257, 64, 49_152)).toBe(false);
  });

  it("SELECTIV_ATTENTION other than rows or tiles is a one-line error naming the value", () => {
    process.env.SELECTIV_ATTENTION = "tile";
    try {
      expect(() => webgpuAttentionForm(64, 64)).toThrow(/^SELECTIV_ATTENTION="tile": expected rows, tiles or unset/);
    } finally {
      delete process.env.SELECTIV_ATTENTION;
    }
  });
});

describe("causal attention: registered kernels ≡ the TF-op form (values and the gradients of q, k, v)", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    CASES.forEach((c, i) => {
      it(`${backend} kernels: ${label(c)}`, async () => {
        const d = draw(c, 70 + i);
        const want = await oracle(i, c, d);
        await initBackend(backend);
        expectClose(await evaluate(c, d, "kernel"), want, label(c));
      });
    });
  }

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  // Time-major kernels: several heads, rows over several workgroups, the 64-wide head.
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    [1, 2, 5, 8].forEach((i) => {
      const c = CASES[i]!;
      it.runIf(backend !== "webgpu" || probe.ok)(
        `${backend} kernels, time-major: ${label(c)}`,
        async () => {
          const d = draw(c, 70 + i);
          const want = await oracle(i, c, d);
          await initBackend(backend);
          expectClose(await evaluate(c, d, "kernel-by-time"), want, label(c));
          assertBackendHealthy();
        },
        120_000,
      );
    });
  }

  // Both WGSL forms: the 64 × 64 tiles (where the device's workgroup memory holds them, as on lavapipe) and the rows.
  for (const form of ["tiles", "rows"] as const) {
    CASES.forEach((c, i) => {
      it.runIf(probe.ok)(
        `webgpu (WGSL) kernels, ${form}: ${label(c)}`,
        async () => {
          const d = draw(c, 70 + i);
          const want = await oracle(i, c, d);
          await initBackend("webgpu");
          process.env.SELECTIV_ATTENTION = form;
          try {
            expect(webgpuAttentionForm(c.D, c.Dv)).toBe(form);
            expectClose(await evaluate(c, d, "kernel"), want, label(c));
            if (form === "tiles") expectClose(await evaluate(c, d, "kernel-by-time"), want, `${label(c)}, time-major`);
          } finally {
            delete process.env.SELECTIV_ATTENTION;
          }
          assertBackendHealthy();
        },
        120_000,
      );
    });
  }
});
