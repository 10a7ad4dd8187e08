// Hashed dropout (./dropout-kernel.ts): the mask against an independent BigInt evaluation of its definition, its keep
// rate and independence across seeds, the gradient, and the same bits on cpu, wasm and webgpu (CI: Mesa's lavapipe)
// at awkward sizes, one of them past 65,535 workgroups.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "../backend.js";
import { tf } from "../tf.js";
import { dropoutAttrs, hashedDropout } from "./dropout-kernel.js";
import { dropout } from "./layers.js";

const probe = await probeWebgpu();
const M = 0xffffffffn;

/** lowbias32 in BigInt arithmetic mod 2³² (written from the definition, not from the kernel's code). */
function lowbias(v: bigint): bigint {
  let x = v & M;
  x ^= x >> 16n;
  x = (x * 0x7feb352dn) & M;
  x ^= x >> 15n;
  x = (x * 0x846ca68bn) & M;
  return x ^ (x >> 16n);
}

function keptByDefinition(index: number, rate: number, seed: number): boolean {
  const lo = BigInt(seed >>> 0);
  const hi = BigInt(Math.floor(seed / 2 ** 32) >>> 0);
  const key = lowbias(lo ^ lowbias(hi));
  const h = lowbias((lowbias(BigInt(index) ^ key) + key) & M);
  return Number(h >> 8n) >= Math.round(rate * 2 ** 24);
}

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => 1 + (i % 97) / 7);

describe("hashed dropout", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it("keeps exactly the elements its definition keeps, scaled by fl32(1 / (1 − rate))", async () => {
    await initBackend("cpu");
    for (const [rate, seed] of [
      [0.2, 7],
      [0.5, 2 ** 40 + 3],
      [0.9, 123_456_789],
    ] as const) {
      const xs = ramp(5000);
      const ys = (await hashedDropout(tf.tensor(xs), rate, seed).data()) as Float32Array;
      const scale = Math.fround(1 / (1 - rate));
      ys.forEach((y, i) => {
        const want = keptByDefinition(i, rate, seed) ? Math.fround(xs[i]! * scale) : 0;
        if (y !== want) expect(y, `rate ${rate}, seed ${seed}, element ${i}`).toBe(want);
      });
    }
  });

  it("keeps 1 − rate of the elements, and two seeds' masks are independent", async () => {
    await initBackend("cpu");
    const n = 1_000_000;
    const ones = tf.ones([n]);
    const a = (await hashedDropout(ones, 0.2, 1).data()) as Float32Array;
    const b = (await hashedDropout(ones, 0.2, 2).data()) as Float32Array;
    let keptA = 0;
    let keptBoth = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] !== 0) keptA++;
      if (a[i] !== 0 && b[i] !== 0) keptBoth++;
    }
    // Binomial standard deviation 4e-4 at n = 1e6: the bounds are about 7 of them.
    expect(Math.abs(keptA / n - 0.8)).toBeLessThan(3e-3);
    expect(Math.abs(keptBoth / n - 0.64)).toBeLessThan(3e-3);
    tf.dispose(ones);
  });

  it("the gradient drops the same elements and scales the rest", async () => {
    await initBackend("cpu");
    const x = tf.tensor(ramp(300), [3, 100]);
    const w = tf.cos(tf.range(0, 300).reshape([3, 100]));
    const y = (await dropout(x, 0.3, 11).data()) as Float32Array;
    const g = (await tf
      .grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.3, 11), w)))(x)
      .data()) as Float32Array;
    const ws = (await w.data()) as Float32Array;
    const scale = Math.fround(1 / 0.7);
    g.forEach((v, i) => expect(v, `element ${i}`).toBe(y[i] === 0 ? 0 : Math.fround(ws[i]! * scale)));
    tf.dispose([x, w]);
  });

  it("rate 0 is the identity; a rate outside [0, 1) is an error naming it", async () => {
    await initBackend("cpu");
    const x = tf.tensor([1, 2, 3]);
    expect(dropout(x, 0, 5)).toBe(x);
    expect(() => dropoutAttrs(1, 5)).toThrow("dropout: rate 1 is not in [0, 1)");
    x.dispose();
  });

  const SHAPES = [[1], [63], [65], [3, 5, 257], [70_001, 64]];
  for (const backend of ["wasm", "webgpu"] as const) {
    it.runIf(backend !== "webgpu" || probe.ok)(`${backend}: the same values and gradients as cpu, bit for bit`, async () => {
      const run = async (name: "cpu" | typeof backend, shape: number[]) => {
        await initBackend(name);
        const n = shape.reduce((p, q) => p * q, 1);
        const x = tf.tensor(ramp(n), shape);
        const w = tf.tensor(ramp(n).reverse(), shape);
        const y = dropout(x, 0.2, 99 + n);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.2, 99 + n), w)))(x);
        const out = [await y.data(), await g.data()] as Float32Array[];
        assertBackendHealthy();
        tf.dispose([x, w, y, g]);
        return out;
      };
      for (const shape of SHAPES) {
        const want = await run("cpu", shape);
        const got = await run(backend, shape);
        ["y", "dx"].forEach((part, p) => {
          const mismatch = got[p]!.findIndex((v, i) => v !== want[p]![i]);
          expect(mismatch, `${part} [${shape.join(", ")}]: first differing element`).toBe(-1);
        });
      }
    });
  }
});
