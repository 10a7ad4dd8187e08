import type { AdamStepAttrs } from "./optim-kernel.js";
import { tf } from "./tf.js";

/**
 * Clip + Adam for one parameter on webgpu as ONE dispatch that updates the parameter and both moments in place,
 * where SelectivAdamStep (./optim-kernel.ts, the oracle: same arithmetic in the same order) needs three, because a
 * TF.js program has one output. TF.js's program runner cannot bind several writable buffers, so this records the
 * dispatch into the backend's own command encoder, as its runner does, and marks the buffers as used by the pending
 * commands (their disposal waits for the submit). Adam is 4 dispatches per parameter out of ~360 per quick GLA step.
 *
 * In place is safe only where nothing else holds the buffers: a parameter or moment whose data is shared (its
 * reference count is not 1, e.g. a moment on the step that creates it) takes the three-dispatch kernel instead, and
 * so does a step under tf.profile (whose per-program GPU timing this path does not take part in).
 */

/** What this needs of TF.js 4.22's webgpu backend; anything missing → the kernel path. */
interface Internals {
  readonly device: GpuDevice;
  readonly tensorMap: { get(dataId: tf.DataId): { resource: unknown; refCount: number; values: unknown } | undefined };
  readonly commandQueueOwnedIds: { add(dataId: tf.DataId): void };
  commandEncoder: { beginComputePass(descriptor: object): ComputePass } | null;
  computePassEncoder: ComputePass | null;
  dispatchCountInPass: number;
  readonly activeTimers?: unknown;
  uploadToGPU(dataId: tf.DataId): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeUniforms(uniforms: { type: string; data: number[] }[]): object;
}

interface GpuDevice {
  createShaderModule(descriptor: { code: string }): unknown;
  createComputePipeline(descriptor: object): { getBindGroupLayout(index: number): unknown };
  createBindGroup(descriptor: object): unknown;
}

interface ComputePass {
  setPipeline(pipeline: unknown): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y: number, z: number): void;
}

const WORKGROUP = 64;
const MAX_WORKGROUPS = 65535;

// The arithmetic of optim-kernel.ts's momentProgram and paramProgram, in their order, on values read once.
const SHADER = `
struct Uniforms {
  n : i32, beta1 : f32, beta2 : f32, oneMinusBeta1 : f32, oneMinusBeta2 : f32,
  epsilon : f32, stepSize : f32, secondCorrection : f32, maxNorm : f32,
};
@group(0) @binding(0) var<storage, read_write> param : array<f32>;
@group(0) @binding(1) var<storage, read_write> firstMoment : array<f32>;
@group(0) @binding(2) var<storage, read_write> secondMoment : array<f32>;
@group(0) @binding(3) var<storage, read> gradient : array<f32>;
@group(0) @binding(4) var<storage, read> squaredNorm : array<f32>;
@group(0) @binding(5) var<storage, read> loss : array<f32>;
@group(0) @binding(6) var<uniform> uniforms : Uniforms;

fn finite(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  let index = i32(id.x + id.y * groups.x * ${WORKGROUP}u);
  if (index >= uniforms.n) { return; }
  let norm = sqrt(squaredNorm[0]);
  if (!(finite(loss[0]) && finite(norm))) { return; }
  var scale = 1.0;
  if (uniforms.maxNorm > 0.0 && norm > uniforms.maxNorm) { scale = uniforms.maxNorm / (norm + 1e-6); }
  let g = gradient[index] * scale;
  let m = uniforms.beta1 * firstMoment[index] + uniforms.oneMinusBeta1 * g;
  let v = uniforms.beta2 * secondMoment[index] + uniforms.oneMinusBeta2 * (g * g);
  firstMoment[index] = m;
  secondMoment[index] = v;
  let step = (uniforms.stepSize * m) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon);
  param[index] = param[index] - step;
}`;

/** Dispatches recorded here since the process started (they bypass the runner, where profilers count). */
export const inPlaceAdamDispatches = { total: 0 };

const pipelines = new WeakMap<object, { getBindGroupLayout(index: number): unknown }>();

function internals(): Internals | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  const b = tf.backend() as unknown as Partial<Internals>;
  const needed = ["device", "tensorMap", "commandQueueOwnedIds", "uploadToGPU", "ensureCommandEncoderReady", "endComputePassEncoder"];
  const methods = [b.makeUniforms, b.submitQueue, b.uploadToGPU, b.ensureCommandEncoderReady, b.endComputePassEncoder];
  if (!needed.every((k) => (b as Record<string, unknown>)[k] !== undefined) || !methods.every((m) => typeof m === "function"))
    return undefined;
  return b as Internals;
}

/**
 * Updates param, firstMoment and secondMoment in place on webgpu (one dispatch); false where it cannot (another
 * backend, shared buffers, profiling), and then nothing was recorded.
 */
export function adamStepInPlace(
  param: tf.Tensor,
  gradient: tf.Tensor,
  firstMoment: tf.Tensor,
  secondMoment: tf.Tensor,
  squaredNorm: tf.Tensor1D,
  loss: tf.Tensor1D,
  a: AdamStepAttrs,
): boolean {
  const gpu = internals();
  if (!gpu || gpu.activeTimers != null) return false;
  const written = [param, firstMoment, secondMoment];
  if (written.some((t) => gpu.tensorMap.get(t.dataId)?.refCount !== 1)) return false;
  const all = [...written, gradient, squaredNorm, loss];
  for (const t of all) gpu.uploadToGPU(t.dataId);
  let pipeline = pipelines.get(gpu.device);
  if (!pipeline) {
    const module = gpu.device.createShaderModule({ code: SHADER });
    pipeline = gpu.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    pipelines.set(gpu.device, pipeline);
  }
  const n = param.size;
  const uniforms = gpu.makeUniforms([
    { type: "int32", data: [n] },
    ...[a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, a.epsilon, a.stepSize, a.secondCorrection, a.maxNorm].map((value) => ({
      type: "float32",
      data: [value],
    })),
  ]);
  const entries = all.map((t, binding) => ({ binding, resource: { buffer: gpu.tensorMap.get(t.dataId)!.resource } }));
  entries.push({ binding: all.length, resource: uniforms as { buffer: unknown } });
  const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  for (const t of all) gpu.commandQueueOwnedIds.add(t.dataId);
  gpu.ensureCommandEncoderReady();
  if (!gpu.computePassEncoder) gpu.computePassEncoder = gpu.commandEncoder!.beginComputePass({});
  const groups = Math.ceil(n / WORKGROUP);
  gpu.computePassEncoder.setPipeline(pipeline);
  gpu.computePassEncoder.setBindGroup(0, bindGroup);
  gpu.computePassEncoder.dispatchWorkgroups(Math.min(groups, MAX_WORKGROUPS), Math.ceil(groups / MAX_WORKGROUPS), 1);
  gpu.dispatchCountInPass++;
  inPlaceAdamDispatches.total++;
  if (tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") <= gpu.dispatchCountInPass) {
    gpu.endComputePassEncoder();
    gpu.submitQueue();
  }
  // Values the backend cached on the CPU by an earlier read are stale now.
  for (const t of written) gpu.tensorMap.get(t.dataId)!.values = null;
  return true;
}
