// The WebGPU backend's traps in TF.js 4.22 and what core does about them. The webgpu cases run where an adapter
// exists (CI: Mesa's lavapipe); SELECTIV_REQUIRE_WEBGPU=1 makes a missing adapter a failure.
import { afterAll, describe, expect, it } from "vitest";
import { assertBackendHealthy, deviceErrorMessage, initBackend, probeWebgpu, releaseUnusedGpuBuffers } from "./backend.js";
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

  it.runIf(probe.ok)(
    "uploads write float32, int32 and bool values into pooled buffers: equal on read-back, no buffer created once the size is pooled",
    async () => {
      await initBackend("webgpu");
      const gpu = tf.backend() as unknown as { device: { createBuffer(d: unknown): unknown } };
      const create = gpu.device.createBuffer.bind(gpu.device);
      let created = 0;
      gpu.device.createBuffer = (d: unknown) => (created++, create(d));
      try {
        const round = async () => {
          const f = tf.tensor2d([1.5, -2, 0.375, 7, 0, -0.25], [2, 3]);
          const i = tf.tensor1d([3, -4, 123_456], "int32");
          const b = tf.tensor1d([true, false, true, true], "bool");
          // A view into a larger array (TF.js keeps it as the tensor's values): only its own range is written.
          const v = tf.tensor1d(Float32Array.from({ length: 64 }, (_, k) => k).subarray(37, 42));
          // Each through a program, so each is uploaded.
          const outs = [tf.mul(f, 2), tf.add(i, 1), tf.logicalNot(b), tf.mul(v, 1)];
          const values = await Promise.all(outs.map((t) => t.data()));
          tf.dispose([f, i, b, v, ...outs]);
          return values.map((v) => Array.from(v));
        };
        const first = await round();
        expect(first).toEqual([
          [3, -4, 0.75, 14, 0, -0.5],
          [4, -3, 123_457],
          [0, 1, 0, 0],
          [37, 38, 39, 40, 41],
        ]);
        created = 0;
        expect(await round()).toEqual(first);
        expect(created).toBe(0);
        assertBackendHealthy();
      } finally {
        gpu.device.createBuffer = create;
      }
    },
  );

  it.runIf(probe.ok)("releaseUnusedGpuBuffers gives back pooled sizes of past rounds and keeps the sizes still asked for", async () => {
    await initBackend("webgpu");
    const pool = (tf.backend() as unknown as { bufferManager: { numBytesAllocated: number; getNumFreeBuffers(): number } }).bufferManager;
    releaseUnusedGpuBuffers();
    releaseUnusedGpuBuffers();
    // A "step" at one steady size, then steps whose batches each have another length (sizes seen once).
    const step = async (length: number) => {
      const y = tf.tidy(() => tf.add(tf.ones([4, length]), tf.scalar(1)));
      expect((await y.data())[0]).toBe(2);
      y.dispose();
    };
    const allocated: number[] = [];
    for (let round = 1; round <= 12; round++) {
      await step(333);
      await step(1000 + round);
      releaseUnusedGpuBuffers();
      allocated.push(pool.numBytesAllocated);
    }
    // Without the release every new length would stay pooled (its input, output and readback buffers: over 150 kB
    // more by round 12); with it the pool stops growing once the first lengths age out.
    const oneBuffer = 4 * 1012 * 4;
    expect(allocated[11]! - allocated[2]!).toBeLessThan(oneBuffer);
    expect(pool.getNumFreeBuffers()).toBeGreaterThan(0);
    const freed = [releaseUnusedGpuBuffers(), releaseUnusedGpuBuffers(), releaseUnusedGpuBuffers()];
    expect(freed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(pool.getNumFreeBuffers()).toBe(0); // nothing asked for in three rounds: all given back
    await step(333); // and the pool still works after emptying
    assertBackendHealthy();
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

  it("a GPU out of memory is one line that names train.microBatch", () => {
    const message = deviceErrorMessage([
      "Out of memory: [Buffer] allocation failed (VK_ERROR_OUT_OF_DEVICE_MEMORY)\n - While calling [Device].CreateBuffer",
      "[Invalid Buffer] is invalid due to a previous error.",
    ]);
    expect(message).toBe(
      "webgpu: the GPU rejected a program, so this step's results are invalid: Out of memory: [Buffer] allocation failed " +
        "(VK_ERROR_OUT_OF_DEVICE_MEMORY) (and 1 more); it ran out of GPU memory: set train.microBatch (samples per " +
        "forward/backward pass) below train.batchSize",
    );
    expect(deviceErrorMessage(["[Invalid ComputePipeline] is invalid"])).not.toContain("microBatch");
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
