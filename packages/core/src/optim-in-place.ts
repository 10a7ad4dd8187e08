import type { AdamStepAttrs } from "./optim-kernel.js";
import { tf } from "./tf.js";

/**
 * Clip + Adam on webgpu as dispatches that update parameters and both moments in place, up to ADAM_GROUP
 * parameters per dispatch, where SelectivAdamStep (./optim-kernel.ts, the oracle: same arithmetic in the same
 * order) needs three dispatches per parameter, because a TF.js program has one output. TF.js's program runner cannot
 * bind several writable buffers, so this records the dispatch into the backend's own command encoder, as its runner
 * does, and marks the buffers as used by the pending commands (their disposal waits for the submit). A group binds
 * 4 buffers per parameter plus the norm and the loss: as many parameters as the device's storage-buffer limit allows
 * (16 → 3 per dispatch; the paper's GLA has 116 parameters, and each dispatch costs ~0.1 ms of JavaScript and Dawn).
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
  readonly limits?: { readonly maxStorageBuffersPerShaderStage?: number };
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

/** At most this many parameters per dispatch (the device's storage-buffer limit may allow fewer). */
export const ADAM_GROUP = 4;

/**
 * The shader for `k` parameters: invocation index < end0 updates parameter 0, < end1 parameter 1 (at index − end0),
 * … — the arithmetic of optim-kernel.ts's momentProgram and paramProgram, in their order, on values read once.
 */
function shader(k: number): string {
  const ids = Array.from({ length: k }, (_, j) => j);
  const bindings = ids
    .map(
      (j) => `
@group(0) @binding(${4 * j}) var<storage, read_write> param${j} : array<f32>;
@group(0) @binding(${4 * j + 1}) var<storage, read_write> firstMoment${j} : array<f32>;
@group(0) @binding(${4 * j + 2}) var<storage, read_write> secondMoment${j} : array<f32>;
@group(0) @binding(${4 * j + 3}) var<storage, read> gradient${j} : array<f32>;`,
    )
    .join("");
  const branches = ids
    .map(
      (j) => `${j === 0 ? "" : " else "}if (index < uniforms.end${j}) {
    let i = index${j === 0 ? "" : ` - uniforms.end${j - 1}`};
    let g = gradient${j}[i] * scale;
    let m = uniforms.beta1 * firstMoment${j}[i] + uniforms.oneMinusBeta1 * g;
    let v = uniforms.beta2 * secondMoment${j}[i] + uniforms.oneMinusBeta2 * (g * g);
    firstMoment${j}[i] = m;
    secondMoment${j}[i] = v;
    param${j}[i] = param${j}[i] - (uniforms.stepSize * m) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon);
  }`,
    )
    .join("");
  return `
struct Uniforms {
  ${ids.map((j) => `end${j} : i32,`).join(" ")}
  beta1 : f32, beta2 : f32, oneMinusBeta1 : f32, oneMinusBeta2 : f32,
  epsilon : f32, stepSize : f32, secondCorrection : f32, maxNorm : f32,
};${bindings}
@group(0) @binding(${4 * k}) var<storage, read> squaredNorm : array<f32>;
@group(0) @binding(${4 * k + 1}) var<storage, read> loss : array<f32>;
@group(0) @binding(${4 * k + 2}) var<uniform> uniforms : Uniforms;

fn finite(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  let index = i32(id.x + id.y * groups.x * ${WORKGROUP}u);
  if (index >= uniforms.end${k - 1}) { return; }
  let norm = sqrt(squaredNorm[0]);
  if (!(finite(loss[0]) && finite(norm))) { return; }
  var scale = 1.0;
  if (uniforms.maxNorm > 0.0 && norm > uniforms.maxNorm) { scale = uniforms.maxNorm / (norm + 1e-6); }
  ${branches}
}`;
}

/**
 * Dispatches recorded here since the process started (they bypass the runner, where profilers count), and the
 * parameters they updated.
 */
export const inPlaceAdamDispatches = { total: 0, parameters: 0 };

interface Pipeline {
  readonly pipeline: unknown;
  readonly layout: unknown;
}

/** Per device, the pipeline for k parameters at index k − 1. */
const pipelines = new WeakMap<object, Pipeline[]>();

function pipelineFor(device: GpuDevice, k: number): Pipeline {
  let forDevice = pipelines.get(device);
  if (!forDevice) pipelines.set(device, (forDevice = []));
  let made = forDevice[k - 1];
  if (!made) {
    const module = device.createShaderModule({ code: shader(k) });
    const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    made = forDevice[k - 1] = { pipeline, layout: pipeline.getBindGroupLayout(0) };
  }
  return made;
}

/** Parameters per dispatch on this device: 4 storage buffers each, plus the norm and the loss. */
function groupSize(device: GpuDevice): number {
  const limit = device.limits?.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(ADAM_GROUP, Math.floor((limit - 2) / 4)));
}

/** Parameters per in-place dispatch on the current backend's device (0 where there is no in-place path). */
export function inPlaceAdamGroupSize(): number {
  const gpu = internals();
  return gpu ? groupSize(gpu.device) : 0;
}

/** One parameter's update: the parameter, its gradient and its two moments. */
export interface AdamSlot {
  readonly param: tf.Tensor;
  readonly gradient: tf.Tensor;
  readonly firstMoment: tf.Tensor;
  readonly secondMoment: tf.Tensor;
}

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
 * Updates the slots' parameters and moments in place on webgpu, several per dispatch. Returns the slots it could
 * not take (another backend, shared buffers, profiling: all of them), for which nothing was recorded.
 */
export function adamStepsInPlace(slots: readonly AdamSlot[], squaredNorm: tf.Tensor1D, loss: tf.Tensor1D, a: AdamStepAttrs): AdamSlot[] {
  const gpu = internals();
  if (!gpu || gpu.activeTimers != null) return [...slots];
  const written = (s: AdamSlot) => [s.param, s.firstMoment, s.secondMoment];
  const taken = slots.filter((s) => written(s).every((t) => gpu.tensorMap.get(t.dataId)?.refCount === 1));
  const k = groupSize(gpu.device);
  for (let at = 0; at < taken.length; at += k) record(gpu, taken.slice(at, at + k), squaredNorm, loss, a);
  return slots.filter((s) => !taken.includes(s));
}

function record(gpu: Internals, group: AdamSlot[], squaredNorm: tf.Tensor1D, loss: tf.Tensor1D, a: AdamStepAttrs): void {
  const all = [...group.flatMap((s) => [s.param, s.firstMoment, s.secondMoment, s.gradient]), squaredNorm, loss];
  for (const t of all) gpu.uploadToGPU(t.dataId);
  const { pipeline, layout } = pipelineFor(gpu.device, group.length);
  let end = 0;
  const ends = group.map((s) => (end += s.param.size));
  const uniforms = gpu.makeUniforms([
    ...ends.map((value) => ({ type: "int32", data: [value] })),
    ...[a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, a.epsilon, a.stepSize, a.secondCorrection, a.maxNorm].map((value) => ({
      type: "float32",
      data: [value],
    })),
  ]);
  const entries = all.map((t, binding) => ({ binding, resource: { buffer: gpu.tensorMap.get(t.dataId)!.resource } }));
  entries.push({ binding: all.length, resource: uniforms as { buffer: unknown } });
  const bindGroup = gpu.device.createBindGroup({ layout, entries });
  for (const t of all) gpu.commandQueueOwnedIds.add(t.dataId);
  gpu.ensureCommandEncoderReady();
  if (!gpu.computePassEncoder) gpu.computePassEncoder = gpu.commandEncoder!.beginComputePass({});
  const groups = Math.ceil(end / WORKGROUP);
  gpu.computePassEncoder.setPipeline(pipeline);
  gpu.computePassEncoder.setBindGroup(0, bindGroup);
  gpu.computePassEncoder.dispatchWorkgroups(Math.min(groups, MAX_WORKGROUPS), Math.ceil(groups / MAX_WORKGROUPS), 1);
  gpu.dispatchCountInPass++;
  inPlaceAdamDispatches.total++;
  inPlaceAdamDispatches.parameters += group.length;
  if (tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") <= gpu.dispatchCountInPass) {
    gpu.endComputePassEncoder();
    gpu.submitQueue();
  }
  // Values the backend cached on the CPU by an earlier read are stale now.
  for (const s of group) for (const t of [s.param, s.firstMoment, s.secondMoment]) gpu.tensorMap.get(t.dataId)!.values = null;
}
