// The WebGPU backend's traps in TF.js 4.22 and what core does about them. The webgpu cases run where an adapter
// exists (CI: Mesa's lavapipe); SELECTIV_REQUIRE_WEBGPU=1 makes a missing adapter a failure.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, initBackend, probeWebgpu } from "./backend.js";
import { isSelectivError } from "./errors.js";
import { sumOfTensors } from "./nn/layers.js";
import { tf } from "./tf.js";

const probe = await probeWebgpu();
const required = process.env.SELECTIV_REQUIRE_WEBGPU === "1";

function prefixSums(values: Float32Array, rows: number, n: number, reverse: boolean): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(values.subarray(r * n, (r + 1) * n));
    if (reverse) row.reverse();
    let acc = 0;
    const sums = row.map((v) => (acc += v));
    if (reverse) sums.reverse();
    out.push(...sums);
  }
  return out;
}

describe("sumOfTensors", () => {
  it("equals the plain sum for 1, 2, 9 and 24 tensors (cpu)", async () => {
    await initBackend("cpu");
    for (const n of [1, 2, 9, 24]) {
      const xs = Array.from({ length: n }, (_, i) => tf.tensor1d([i + 1, -2 * i, 0.5]));
      const before = tf.memory().numTensors;
      const s = sumOfTensors(xs);
      expect(tf.memory().numTensors).toBe(before + (n === 1 ? 0 : 1)); // only the sum is left
      expect(Array.from(await s.data())).toEqual([(n * (n + 1)) / 2, -n * (n - 1), 0.5 * n]);
      tf.dispose([...xs, s]);
    }
  });
});

describe("webgpu backend", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  it.runIf(required && !probe.ok)("a WebGPU adapter is present (SELECTIV_REQUIRE_WEBGPU=1)", () => {
    expect(probe.ok ? "" : probe.why).toBe("");
  });

  it.runIf(probe.ok)("sumOfTensors of 24 tensors is right where tf.addN's one program is over the storage-buffer limit", async () => {
    await initBackend("webgpu");
    const xs = Array.from({ length: 24 }, (_, i) => tf.scalar(i + 1));
    const s = sumOfTensors(xs);
    expect((await s.data())[0]).toBe(300);
    assertBackendHealthy();
    tf.dispose([...xs, s]);
  });

  it.runIf(probe.ok)("a program the GPU rejects is reported by assertBackendHealthy, in one line, once", async () => {
    await initBackend("webgpu");
    const xs = Array.from({ length: 24 }, (_, i) => tf.scalar(i + 1));
    const s = tf.addN(xs); // one program binding 25 storage buffers: rejected on adapters with fewer
    await s.data();
    tf.dispose([...xs, s]);
    const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits;
    if (limit.maxStorageBuffersPerShaderStage >= 25) return; // an adapter that takes it: nothing to report
    let error: unknown;
    try {
      assertBackendHealthy();
    } catch (e) {
      error = e;
    }
    expect(isSelectivError(error)).toBe(true);
    expect((error as Error).message).toMatch(/^webgpu: the GPU rejected a program.*storage buffers/);
    expect((error as Error).message).not.toContain("\n");
    expect(() => assertBackendHealthy()).not.toThrow();
  });

  it.runIf(probe.ok)("cumsum at one axis length, then at another, is right both times (programs are keyed by shape)", async () => {
    await initBackend("webgpu");
    for (const [rows, n] of [
      [104, 13],
      [512, 16],
      [7, 13],
      [3, 5],
    ] as const) {
      for (const reverse of [false, true]) {
        const values = Float32Array.from({ length: rows * n }, (_, i) => ((i * 37) % 11) - 5);
        const x = tf.tensor2d(values, [rows, n]);
        const y = tf.cumsum(x, 1, false, reverse);
        expect(Array.from(await y.data())).toEqual(prefixSums(values, rows, n, reverse));
        tf.dispose([x, y]);
      }
    }
    assertBackendHealthy();
  });
});
