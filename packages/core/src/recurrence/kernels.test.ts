// Which form linearRecurrence takes per backend and SELECTIV_KERNELS (cpu here; webgpu's default is covered by
// linear/scan-kernel.test.ts and the models' webgpu parity test).
import { afterEach, describe, expect, it } from "vitest";
import { initBackend } from "../backend.js";
import { Rng } from "../rng.js";
import { tf } from "../tf.js";
import { prefersFusedKernels, prefersRegisteredKernels } from "./kernels.js";
import { fusedScan, linearRecurrence } from "./linear/index.js";
import { randn } from "./test-tensors.fixture.js";

const saved = process.env.SELECTIV_KERNELS;

describe("SELECTIV_KERNELS", () => {
  afterEach(() => {
    if (saved === undefined) delete process.env.SELECTIV_KERNELS;
    else process.env.SELECTIV_KERNELS = saved;
  });

  it("cpu: fused by default; ops, fused and registered each force their form", async () => {
    await initBackend("cpu");
    const cases: [string | undefined, boolean, boolean][] = [
      [undefined, true, false],
      ["ops", false, false],
      ["fused", true, false],
      ["registered", false, true],
    ];
    for (const [value, fused, registered] of cases) {
      if (value === undefined) delete process.env.SELECTIV_KERNELS;
      else process.env.SELECTIV_KERNELS = value;
      expect([prefersFusedKernels(), prefersRegisteredKernels()], String(value)).toEqual([fused, registered]);
    }
  });

  it("registered on cpu runs the fused scan as a kernel: the same numbers as fusedScan for a diagonal decay", async () => {
    await initBackend("cpu");
    const rng = new Rng(3);
    const [b, h, t, dk, dv] = [2, 3, 19, 5, 4];
    const inputs = {
      query: randn(rng, [b, h, t, dk]) as tf.Tensor4D,
      key: randn(rng, [b, h, t, dk]) as tf.Tensor4D,
      value: randn(rng, [b, h, t, dv]) as tf.Tensor4D,
      decay: { kind: "diagonal", logAlpha: tf.neg(tf.softplus(randn(rng, [b, h, t, dk]))) as tf.Tensor4D } as const,
    };
    process.env.SELECTIV_KERNELS = "registered";
    const viaKernel = linearRecurrence(inputs, "chunked");
    const direct = fusedScan(inputs);
    expect(Array.from(viaKernel.output.dataSync())).toEqual(Array.from(direct.output.dataSync()));
    expect(Array.from(viaKernel.state.dataSync())).toEqual(Array.from(direct.state.dataSync()));
  });
});
