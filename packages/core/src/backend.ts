import { existsSync } from "node:fs";
import { join } from "node:path";
import { SelectivError } from "./errors.js";
import { tf } from "./tf.js";
import { routeAxisSums } from "./nn/axis-sum.js";
import { routeTiledMatMuls } from "./nn/tiled-matmul.js";
import { type AdapterCapabilities, deviceRequestFor, diagnoseNvidiaVulkan } from "./webgpu-device.js";

export type BackendName = "cpu" | "wasm" | "webgpu" | "tensorflow";
export type BackendPreference = BackendName | "auto";
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ["auto", "cpu", "wasm", "webgpu", "tensorflow"];

export interface BackendChoice {
  readonly name: BackendName;
  /** Why this backend was chosen (and why the better ones were not). */
  readonly reason: string;
}

type Attempt = { ok: true; note?: string } | { ok: false; why: string };

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 160);
}

async function importOptional(name: string): Promise<unknown> {
  // A computed specifier keeps bundlers and tsc from resolving packages that are optional at run time.
  const specifier: string = name;
  return import(specifier);
}

async function tryTensorflow(): Promise<Attempt> {
  const tried: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await importOptional(pkg);
      if (tf.findBackend("tensorflow") && (await tf.setBackend("tensorflow"))) return { ok: true };
      tried.push(`${pkg} loaded but registered no working "tensorflow" backend in this TF.js instance`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      tried.push(code === "ERR_MODULE_NOT_FOUND" ? `${pkg} not installed` : `${pkg}: ${firstLine(e)}`);
    }
  }
  return { ok: false, why: `no working tfjs-node binding (${tried.join("; ")})` };
}

/** Dawn reaches GPUs on Linux through the Vulkan loader; without it Dawn only prints a warning, so look first. */
function vulkanLoaderFound(): boolean {
  if (process.platform !== "linux") return true;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return dirs.some((d) => existsSync(join(d, "libvulkan.so.1")));
}

interface AdapterLike extends AdapterCapabilities {
  readonly info?: { readonly architecture?: string; readonly description?: string };
  readonly isFallbackAdapter?: boolean;
  requestDevice(descriptor: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<unknown>;
}

/** A CPU rasteriser posing as a GPU (Mesa's llvmpipe, SwiftShader): fine for tests, slower than wasm for training. */
function isSoftwareAdapter(adapter: AdapterLike): boolean {
  const info = adapter.info ?? {};
  return (
    adapter.isFallbackAdapter === true || info.architecture === "software" || /llvmpipe|swiftshader|lavapipe/i.test(info.description ?? "")
  );
}

/** Dawn's validation errors (a program over the device's limits, …), recorded since the last check. */
const deviceErrors: string[] = [];
/** The webgpu backend's error watch and program keys are set up once per process. */
let patched = false;

/**
 * Throws when the GPU reported an error since the last call. A failed WebGPU program does not throw in TF.js: it
 * invalidates its whole command buffer and every result in it reads back as zeros, so a step that ran into one
 * must not be taken as a result.
 */
export function assertBackendHealthy(): void {
  if (deviceErrors.length === 0) return;
  const message = deviceErrorMessage(deviceErrors);
  deviceErrors.length = 0;
  throw new SelectivError(message);
}

/** One line for the GPU errors of a step: the first, how many more, and what to change when memory ran out. */
export function deviceErrorMessage(errors: readonly string[]): string {
  const first = errors[0]!.split("\n")[0]!.slice(0, 240);
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  const memory = /out[ _-]?of[ _-]?(device[ _-]?)?memory/i.test(errors.join(" "))
    ? "; it ran out of GPU memory: set train.microBatch (samples per forward/backward pass) below train.batchSize"
    : "";
  return `webgpu: the GPU rejected a program, so this step's results are invalid: ${first}${more}${memory}`;
}

function watchDeviceErrors(): void {
  const device = (tf.backend() as unknown as { device?: EventTarget }).device;
  device?.addEventListener("uncapturederror", (event) => {
    const error = (event as Event & { error?: { message?: string } }).error;
    deviceErrors.push(error?.message ?? "unknown GPU error");
  });
}

type Navigator = { gpu?: { requestAdapter(): Promise<AdapterLike | null> } };

/**
 * Dawn toggles to enable, from SELECTIV_DAWN_TOGGLES (comma-separated names from Dawn's Toggles.cpp, e.g.
 * `skip_validation,disable_robustness`): for measuring what Dawn's checks cost; none by default.
 */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.SELECTIV_DAWN_TOGGLES?.trim();
  if (!raw) return [];
  const names = raw.split(",").map((t) => t.trim());
  const bad = names.find((t) => !/^[a-z0-9_]+$/.test(t));
  if (bad !== undefined) {
    throw new SelectivError(
      `SELECTIV_DAWN_TOGGLES: got ${JSON.stringify(bad)}; expected comma-separated Dawn toggle names (lower case, digits, underscores)`,
    );
  }
  return [`enable-dawn-features=${names.join(",")}`];
}

/** The WebGPU adapter Dawn finds (navigator.gpu set up from the `webgpu` package if needed), or why there is none. */
async function findAdapter(): Promise<{ adapter: AdapterLike } | { why: string }> {
  if (!vulkanLoaderFound()) return { why: "no Vulkan loader (libvulkan.so.1) on this machine" };
  const g = globalThis as unknown as { navigator?: Navigator };
  if (!g.navigator?.gpu) {
    const dawn = (await importOptional("webgpu")) as { create(flags: string[]): unknown; globals: object };
    Object.assign(globalThis, dawn.globals);
    Object.defineProperty(globalThis, "navigator", {
      value: { ...(g.navigator ?? {}), gpu: dawn.create(dawnFlags()) },
      configurable: true,
      writable: true,
    });
  }
  const adapter = await g.navigator!.gpu!.requestAdapter();
  if (adapter) return { adapter };
  const nvidia = diagnoseNvidiaVulkan();
  return { why: `no GPU adapter (navigator.gpu.requestAdapter() returned null${nvidia ? `: ${nvidia}` : ""})` };
}

/**
 * Whether `--backend webgpu` can start here, without starting it: the adapter's description (software renderers
 * included) or why not. Tests use it to decide whether to run their WebGPU cases.
 */
export async function probeWebgpu(): Promise<{ ok: true; adapter: string; software: boolean } | { ok: false; why: string }> {
  try {
    const found = await findAdapter();
    if ("why" in found) return { ok: false, why: found.why };
    const info = found.adapter.info ?? {};
    return { ok: true, adapter: info.description || info.architecture || "WebGPU adapter", software: isSoftwareAdapter(found.adapter) };
  } catch (e) {
    return { ok: false, why: `webgpu unavailable (${firstLine(e)})` };
  }
}

interface WebgpuProgram {
  shaderKey: string;
  readonly outputShape?: readonly number[];
}

/**
 * TF.js 4.22's webgpu backend caches each compiled program under a key built from the input ranks and types, but
 * some programs bake sizes into their code (Cumsum writes its axis length into the shader): a later call at
 * another size reuses the wrong program and returns wrong numbers without an error. Adding every input's and the
 * output's shape to the key makes each cached program exact (a training step repeats its shapes, so the cache
 * still serves every step after the first).
 */
function keyProgramsByShape(): void {
  type Run = (program: WebgpuProgram, inputs: readonly { readonly shape: readonly number[] }[], ...rest: unknown[]) => unknown;
  const backend = tf.backend() as unknown as { runWebGPUProgram: Run };
  const run = backend.runWebGPUProgram.bind(backend);
  backend.runWebGPUProgram = (program, inputs, ...rest) => {
    if (!program.shaderKey.includes("|")) {
      program.shaderKey += `|${inputs.map((x) => x.shape.join("x")).join(",")}>${(program.outputShape ?? []).join("x")}`;
    }
    return run(program, inputs, ...rest);
  };
}

/** TF.js 4.22's webgpu buffer pool: freed buffers wait in `freeBuffers` under the key `${size}_${usage}`. */
interface BufferPool {
  readonly freeBuffers: Map<string, { readonly size: number; destroy(): void }[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
  acquireBuffer(size: number, usage: number, ...rest: unknown[]): unknown;
}

/** A pooled size not asked for in this many rounds (training steps, evaluations) is given back to the GPU. */
const POOL_ROUNDS_KEPT = 2;
let poolRound = 0;
const lastWanted = new Map<string, number>();

function bufferPool(): BufferPool | undefined {
  return (tf.backend() as unknown as { bufferManager?: BufferPool }).bufferManager;
}

/** Notes the round in which each buffer size was last asked for (see releaseUnusedGpuBuffers). */
function recordBufferRequests(): void {
  const pool = bufferPool();
  if (!pool) return;
  const acquire = pool.acquireBuffer.bind(pool);
  pool.acquireBuffer = (size, usage, ...rest) => {
    lastWanted.set(`${size}_${usage}`, poolRound);
    return acquire(size, usage, ...rest);
  };
}

/** TF.js 4.22's webgpu backend, as far as uploads touch it. */
interface UploadingBackend {
  readonly tensorMap: { get(dataId: object): { dtype: string; shape: number[]; values: unknown; resource: unknown } };
  readonly bufferManager: { acquireBuffer(size: number, usage: number): unknown };
  readonly device: { queue: { writeBuffer(buffer: unknown, offset: number, data: Float32Array | Int32Array): void } };
  uploadToGPU(dataId: object): void;
}

/**
 * Uploads a tensor's values with queue.writeBuffer into a pooled buffer. TF.js 4.22 creates a new mapped staging
 * buffer for every upload (never pooled) and copies from it; on the H100 those buffer creations were 8% of a paper
 * Transformer step's JavaScript time (the batch and the per-step scalars, every step). writeBuffer goes through
 * Dawn's own staging ring. Order is kept: a buffer in the pool is used by no command still being recorded, and the
 * write lands on the queue before every command recorded after it.
 */
function uploadByQueueWrite(): void {
  const backend = tf.backend() as unknown as UploadingBackend;
  const upload = backend.uploadToGPU.bind(backend);
  const usage = GPU_STORAGE | GPU_COPY_SRC | GPU_COPY_DST;
  backend.uploadToGPU = (dataId) => {
    const data = backend.tensorMap.get(dataId);
    const values = data.values as ArrayLike<number> | null;
    if (data.resource != null || values == null || !["float32", "int32", "bool"].includes(data.dtype)) return upload(dataId);
    const typed =
      data.dtype === "float32"
        ? values instanceof Float32Array
          ? values
          : Float32Array.from(values)
        : values instanceof Int32Array
          ? values
          : Int32Array.from(values);
    const buffer = backend.bufferManager.acquireBuffer(typed.byteLength, usage);
    if (typed.length > 0) backend.device.queue.writeBuffer(buffer, 0, typed);
    data.resource = buffer;
    data.values = null;
  };
}

/** GPUBufferUsage flags (WebGPU's constants; the globals exist only once Dawn is loaded). */
const GPU_COPY_SRC = 0x0004;
const GPU_COPY_DST = 0x0008;
const GPU_STORAGE = 0x0080;

/**
 * Destroys the pooled GPU buffers of sizes not asked for in the last POOL_ROUNDS_KEPT rounds, then starts a new
 * round; returns the bytes given back. TF.js keeps every freed buffer for reuse under its exact size and never
 * frees one, and a batch is as long as its longest sample: tasks whose samples vary in length make new sizes at
 * every step, and the pool grows until the GPU is full (14 medium Task-3 runs ran an 80 GB H100 out of memory).
 * A steady training step asks for the same sizes every round, so it keeps its buffers. No-op off webgpu.
 */
export function releaseUnusedGpuBuffers(): number {
  const pool = tf.getBackend() === "webgpu" ? bufferPool() : undefined;
  if (!pool) return 0;
  let freed = 0;
  for (const [key, buffers] of pool.freeBuffers) {
    if (buffers.length === 0 || (lastWanted.get(key) ?? -1) > poolRound - POOL_ROUNDS_KEPT) continue;
    for (const buffer of buffers) {
      freed += buffer.size;
      pool.numBytesAllocated -= buffer.size;
      buffer.destroy();
    }
    pool.numFreeBuffers -= buffers.length;
    // Emptied, not deleted: TF.js's releaseBuffer treats an empty map as a disposed manager.
    buffers.length = 0;
    lastWanted.delete(key);
  }
  poolRound++;
  return freed;
}

async function tryWebgpu(allowSoftware: boolean): Promise<Attempt> {
  try {
    const found = await findAdapter();
    if ("why" in found) return { ok: false, why: found.why };
    const { adapter } = found;
    if (!allowSoftware && isSoftwareAdapter(adapter)) {
      return {
        ok: false,
        why: `the only WebGPU adapter is a software renderer (${adapter.info?.description || "fallback adapter"}); ask for it with --backend webgpu`,
      };
    }
    // Import the backend only once an adapter exists: a registered-but-failed backend breaks the others.
    const webgpu = (await importOptional("@tensorflow/tfjs-backend-webgpu")) as {
      WebGPUBackend: new (device: unknown, adapterInfo: unknown) => tf.KernelBackend;
    };
    const request = deviceRequestFor(adapter);
    if (!patched) {
      // Our device instead of the package's: the adapter's own limits (TF.js leaves the storage-buffer count at
      // WebGPU's default of 8) and features (timestamp-query, subgroups) where it has them.
      if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
      tf.registerBackend("webgpu", async () => new webgpu.WebGPUBackend(await adapter.requestDevice(request), adapter.info), 3);
    }
    if (!(await tf.setBackend("webgpu"))) return { ok: false, why: "the webgpu backend failed to initialise" };
    tf.env().set("WEBGPU_CPU_FORWARD", false);
    if (!patched) {
      watchDeviceErrors();
      keyProgramsByShape();
      recordBufferRequests();
      uploadByQueueWrite();
      routeTiledMatMuls();
      routeAxisSums();
    }
    patched = true;
    return request.note ? { ok: true, note: request.note } : { ok: true };
  } catch (e) {
    return { ok: false, why: `webgpu unavailable (${firstLine(e)})` };
  }
}

/**
 * The wasm backend's Identity copies the tensor's bytes, and TF.js runs Identity on every tensor an op saves for
 * its gradient: on a training step that is ~15 % of the time spent in memcpy. Tensors are immutable (a variable's
 * assign swaps its buffer), so sharing the buffer under a reference count, as the cpu backend and wasm's own
 * Reshape do, gives the same values.
 */
function shareIdentityBuffers(): void {
  tf.unregisterKernel(tf.Identity, "wasm");
  tf.registerKernel({
    kernelName: tf.Identity,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

let wasmIdentityShared = false;

async function tryWasm(): Promise<Attempt> {
  try {
    await import("@tensorflow/tfjs-backend-wasm");
    if (!wasmIdentityShared) shareIdentityBuffers();
    wasmIdentityShared = true;
    if (await tf.setBackend("wasm")) return { ok: true };
    return { ok: false, why: "the wasm backend failed to initialise" };
  } catch (e) {
    return { ok: false, why: `wasm unavailable (${firstLine(e)})` };
  }
}

async function tryCpu(): Promise<Attempt> {
  if (!(await tf.setBackend("cpu"))) return { ok: false, why: "the cpu backend failed to initialise" };
  // TF.js's cpu backend prints a banner urging tfjs-node on its first write; that package cannot install here (its
  // binary download fails), and the banner would land in the middle of every table.
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  return { ok: true };
}

const attempts: Record<BackendName, (explicit: boolean) => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  webgpu: tryWebgpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

let current: BackendChoice | undefined;

/**
 * Selects and initialises the TF.js backend. Call before creating any tensor (a tensor made before
 * tf.setBackend breaks). `auto`: tensorflow if a working tfjs-node binding is present, else webgpu if a GPU
 * adapter exists, else wasm, else cpu. An explicit choice that cannot start is a one-line SelectivError.
 */
export async function initBackend(preference: BackendPreference): Promise<BackendChoice> {
  if (current && (preference === "auto" || preference === current.name)) return current;
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new SelectivError(`--backend: got ${JSON.stringify(preference)}; expected one of ${BACKEND_PREFERENCES.join(", ")}`);
  }
  if (preference !== "auto") {
    const r = await attempts[preference](true);
    if (!r.ok) throw new SelectivError(`--backend ${preference}: ${r.why}; allowed here: auto, cpu, wasm`);
    current = { name: preference, reason: `requested with --backend${r.note ? ` (${r.note})` : ""}` };
    return current;
  }
  const skipped: string[] = [];
  for (const name of ["tensorflow", "webgpu", "wasm", "cpu"] as const) {
    const r = await attempts[name](false);
    if (r.ok) {
      const note = r.note ? ` (${r.note})` : "";
      current = { name, reason: (skipped.length ? `auto: ${skipped.join("; ")}` : `auto: ${name} is available`) + note };
      return current;
    }
    skipped.push(`${name}: ${r.why}`);
  }
  throw new SelectivError(`--backend auto: no backend could start (${skipped.join("; ")})`);
}

/** The backend chosen by initBackend, if any. */
export function currentBackend(): BackendChoice | undefined {
  return current;
}
