import { floatOutput } from "../../kernel-registration.js";
import { tf } from "../../tf.js";
import type { WgslProgram } from "../linear/scan-webgpu.js";
import { LANE_MAJOR, type ScanLayout } from "../linear/scan-webgpu-split.js";
import { type RecurrenceResult, swapMiddleAxes, unpack } from "../tensor-ops.js";
import { fusedDeltaRuleArrays } from "./fused.js";
import type { DeltaRuleInputs } from "./inputs.js";
import {
  columnAdjointProgram,
  forwardProgram,
  forwardSizeByTime,
  forwardWidth,
  gradientSizeByTime,
  gradientWidth,
  reduceProgram,
  rowProgram,
} from "./delta-webgpu.js";

/**
 * The (gated) delta rule of docs/spec/MODELS.md §6.2 as two registered TF.js kernels, one program each per backend
 * family: WGSL on webgpu (./delta-webgpu.ts), the fused Float32Array kernel of ./fused.ts on cpu and wasm (the
 * oracle the WGSL kernels are tested against, with ./naive.ts).
 *
 * SelectivDeltaRule — inputs query, key [B, H, T, d_k], value [B, H, T, d_v], beta, logAlpha [B, H, T] (zeros for
 * DeltaNet), initialState [B, H, d_k, d_v]; output [B, H, 2·T·d_v + d_k·d_v]: the readouts o_t = S_tᵀ q_t, the final
 * state, then the residuals r_t = v_t − S′ᵀk_t the backward pass reads (their own gradient is ignored: nothing
 * downstream uses them).
 * SelectivDeltaRuleGrad — the same inputs plus forwardOutput (the output above) and outputGradient (its gradient);
 * output [B, H, 2·T·d_k + T·d_v + 2·T + d_k·d_v]: dq, dk, dv, dβ, d log α, ∂L/∂S_0 of each lane, packed.
 *
 * Attr `timeMajor` (training's form): every input [B, T, H, ·] (β, log α [B, T, H]), no initialState (S_0 = 0) and
 * no final state; the forward output is [2·B·T·H·d_v] (the readouts [B, T, H, d_v], then the residuals) and the
 * gradient [B·T·H·(2·d_k + d_v + 2)] (dq, dk, dv, dβ, d log α, each in its input's layout), so each is a slice and a
 * reshape away, with no transposes; its outputGradient is the readouts' gradient alone ([B·T·H·d_v]).
 */
export const DELTA_RULE = "SelectivDeltaRule";
export const DELTA_RULE_GRAD = "SelectivDeltaRuleGrad";

type Inputs = Record<string, tf.TensorInfo>;

function sizes(inputs: Inputs, timeMajor = false) {
  const [B, second, third, dv] = inputs.value!.shape as number[];
  const [H, T] = timeMajor ? [third!, second!] : [second!, third!];
  const dk = inputs.key!.shape[3]!;
  return { B: B!, H, T, dk, dv: dv! };
}

/** Attr `timeMajor` (default false: lane-major with state). */
const timeMajorOf = (attrs: unknown) => (attrs as { timeMajor?: boolean } | undefined)?.timeMajor === true;
const layoutOf = (timeMajor: boolean, H: number): ScanLayout => (timeMajor ? { timeMajor, heads: H } : LANE_MAJOR);

interface ArrayBackend {
  readSync(dataId: tf.DataId): unknown;
  write(values: Float32Array, shape: number[], dtype: tf.DataType): tf.DataId;
}

/**
 * The fused delta rule on a cpu/wasm kernel's inputs (always gated: log α = 0 gives α = 1 exactly); time-major
 * inputs are laid out lane-major first, with S_0 = 0.
 */
function cpuRule(inputs: Inputs, backend: ArrayBackend, timeMajor: boolean, residuals?: Float32Array) {
  const { B, H, T, dk, dv } = sizes(inputs, timeMajor);
  const read = (name: string, d: number) => {
    const x = backend.readSync(inputs[name]!.dataId) as Float32Array;
    return timeMajor ? swapMiddleAxes(x, B, T, H, d) : x;
  };
  return fusedDeltaRuleArrays(
    { B, H, T, dk, dv, gated: true },
    read("query", dk),
    read("key", dk),
    read("value", dv),
    read("beta", 1),
    read("logAlpha", 1),
    timeMajor ? new Float32Array(B * H * dk * dv) : read("initialState", dk * dv),
    residuals,
  );
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: DELTA_RULE,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(inputs as Inputs, timeMajor);
        const residuals = new Float32Array(B * H * T * dv);
        const fused = cpuRule(inputs as Inputs, b, timeMajor, residuals).out;
        const core = T * dv + dk * dv;
        if (timeMajor) {
          const readouts = new Float32Array(B * H * T * dv);
          for (let lane = 0; lane < B * H; lane++) readouts.set(fused.subarray(lane * core, lane * core + T * dv), lane * T * dv);
          const packed = new Float32Array(forwardSizeByTime(B, H, T, dv));
          packed.set(swapMiddleAxes(readouts, B, H, T, dv), 0);
          packed.set(swapMiddleAxes(residuals, B, H, T, dv), B * H * T * dv);
          return floatOutput(b, packed, [packed.length]);
        }
        const width = forwardWidth(T, dk, dv);
        const packed = new Float32Array(B * H * width);
        for (let lane = 0; lane < B * H; lane++) {
          packed.set(fused.subarray(lane * core, (lane + 1) * core), lane * width);
          packed.set(residuals.subarray(lane * T * dv, (lane + 1) * T * dv), lane * width + core);
        }
        return floatOutput(b, packed, [B, H, width]);
      },
    },
    {
      kernelName: DELTA_RULE_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        // The fused backward takes the gradient of the readouts and final state only (the residuals' is unused).
        const dy = b.readSync(x.outputGradient!.dataId) as Float32Array;
        const core = T * dv + dk * dv;
        const dyCore = new Float32Array(B * H * core);
        if (timeMajor) {
          const readouts = swapMiddleAxes(dy.subarray(0, B * H * T * dv), B, T, H, dv);
          for (let lane = 0; lane < B * H; lane++) dyCore.set(readouts.subarray(lane * T * dv, (lane + 1) * T * dv), lane * core);
        } else {
          const width = forwardWidth(T, dk, dv);
          for (let lane = 0; lane < B * H; lane++) dyCore.set(dy.subarray(lane * width, lane * width + core), lane * core);
        }
        // The forward scan again (it keeps the states the backward scan starts its segments from).
        const g = cpuRule(x, b, timeMajor).backward(dyCore);
        const parts = [
          [g.dq, dk],
          [g.dk, dk],
          [g.dv, dv],
          [g.dBeta, 1],
          [g.dLogAlpha, 1],
        ] as const;
        if (timeMajor) {
          const packed = new Float32Array(gradientSizeByTime(B, H, T, dk, dv));
          let at = 0;
          for (const [part, d] of parts) {
            packed.set(swapMiddleAxes(part, B, H, T, d), at);
            at += B * H * T * d;
          }
          return floatOutput(b, packed, [packed.length]);
        }
        const gradWidth = gradientWidth(T, dk, dv);
        const packed = new Float32Array(B * H * gradWidth);
        for (let lane = 0; lane < B * H; lane++) {
          let at = lane * gradWidth;
          for (const [part, n] of [...parts.map(([p, d]) => [p, T * d] as const), [g.dInitialState, dk * dv] as const]) {
            packed.set(part.subarray(lane * n, (lane + 1) * n), at);
            at += n;
          }
        }
        return floatOutput(b, packed, [B, H, gradWidth]);
      },
    },
  ];
}

interface WebgpuBackend {
  runWebGPUProgram(
    program: WgslProgram,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  disposeData(dataId: tf.DataId): void;
}

function webgpuKernels(): tf.KernelConfig[] {
  // One entry per i32 field: the backend aligns a two-element entry as a vec2 (8 bytes), the struct's i32s at 4.
  const uniforms = (B: number, H: number, T: number) => [
    { type: "int32", data: [B * H] },
    { type: "int32", data: [T] },
  ];
  return [
    {
      kernelName: DELTA_RULE,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          forwardProgram(B, H, T, dk, dv, layoutOf(timeMajor, H)),
          [x.query!, x.key!, x.value!, x.beta!, x.logAlpha!, ...(timeMajor ? [] : [x.initialState!])],
          "float32",
          uniforms(B, H, T),
        );
      },
    },
    {
      kernelName: DELTA_RULE_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const gpu = backend as unknown as WebgpuBackend;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        const layout = layoutOf(timeMajor, H);
        const u = uniforms(B, H, T);
        const scratch = gpu.runWebGPUProgram(
          columnAdjointProgram(B, H, T, dk, dv, layout),
          [x.query!, x.key!, x.value!, x.beta!, x.logAlpha!, x.forwardOutput!, x.outputGradient!],
          "float32",
          u,
        );
        const packed = gpu.runWebGPUProgram(
          rowProgram(B, H, T, dk, dv, layout),
          [x.query!, x.key!, x.logAlpha!, ...(timeMajor ? [] : [x.initialState!]), x.outputGradient!, scratch],
          "float32",
          u,
        );
        // dv, dβ and d log α go into their own regions of the same buffer.
        gpu.runWebGPUProgram(reduceProgram(B, H, T, dk, dv, layout), [scratch], "float32", u, packed);
        gpu.disposeData(scratch.dataId);
        return packed;
      },
    },
  ];
}

let registered = false;

/** Registers both kernels for cpu, wasm and webgpu (once; a backend that is never started costs nothing). */
export function registerDeltaRuleKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of [...cpuKernels("cpu"), ...cpuKernels("wasm"), ...webgpuKernels()]) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
}

/**
 * The delta rule through the registered kernels, with the gradient of SelectivDeltaRuleGrad. Without log α
 * (DeltaNet) the kernels get zeros (α = 1 exactly) and the decay's gradient is dropped.
 */
export function kernelDeltaRule(inputs: DeltaRuleInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  registerDeltaRuleKernels();
  const { query, key, value, beta, logAlpha } = inputs;
  const [B, H, T, dv] = value.shape;
  const dk = key.shape[3];
  const la = logAlpha ?? tf.zeros([B, H, T]);
  const s0 = initialState ?? tf.zeros([B, H, dk, dv]);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, b, a, s] = args as tf.Tensor[];
    const save = args[6] as tf.GradSaveFunc;
    const forward = tf.engine().runKernel(DELTA_RULE, {
      query: q!,
      key: k!,
      value: v!,
      beta: b!,
      logAlpha: a!,
      initialState: s!,
    }) as tf.Tensor3D;
    save([q!, k!, v!, b!, a!, s!, forward]);
    return {
      value: forward,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sb, sa, ss, sf] = saved;
        const g = tf.engine().runKernel(DELTA_RULE_GRAD, {
          query: sq!,
          key: sk!,
          value: sv!,
          beta: sb!,
          logAlpha: sa!,
          initialState: ss!,
          forwardOutput: sf!,
          outputGradient: dy,
        }) as tf.Tensor3D;
        let at = 0;
        const part = (n: number, shape: number[]) => {
          const r = tf.reshape(tf.slice(g, [0, 0, at], [B, H, n]), shape);
          at += n;
          return r;
        };
        // The packed order is the inputs' order: dq, dk, dv, dβ, d log α, ∂L/∂S_0.
        return [
          part(T * dk, [B, H, T, dk]),
          part(T * dk, [B, H, T, dk]),
          part(T * dv, [B, H, T, dv]),
          part(T, [B, H, T]),
          part(T, [B, H, T]),
          part(dk * dv, [B, H, dk, dv]),
        ];
      },
    };
  });
  return unpack(op(query, key, value, beta, la, s0) as tf.Tensor3D, T, dk, dv);
}

const TIME_MAJOR = { timeMajor: true } as unknown as tf.NamedAttrMap;

/**
 * The delta rule's readouts from S_0 = 0 through the registered kernels, time-major: query, key [B, T, H, d_k], value
 * [B, T, H, d_v], β and log α [B, T, H] (a layer's projections reshaped into heads); readouts [B, T, H, d_v]. Each
 * output is a slice and a reshape of the kernel's packed tensor, so no transposes run around the rule.
 */
export function kernelDeltaRuleOutputByTime(inputs: DeltaRuleInputs): tf.Tensor4D {
  registerDeltaRuleKernels();
  const { query, key, value, beta, logAlpha } = inputs;
  const [B, T, H, dv] = value.shape;
  const dk = key.shape[3];
  const la = logAlpha ?? tf.zeros([B, T, H]);
  const rows = B * T * H;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, b, a] = args as tf.Tensor[];
    const save = args[5] as tf.GradSaveFunc;
    const forward = tf.engine().runKernel(DELTA_RULE, { query: q!, key: k!, value: v!, beta: b!, logAlpha: a! }, TIME_MAJOR) as tf.Tensor1D;
    save([q!, k!, v!, b!, a!, forward]);
    return {
      value: tf.reshape(tf.slice(forward, [0], [rows * dv]), [B, T, H, dv]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sb, sa, sf] = saved;
        // The residuals have no gradient, and without state the kernels read only the readouts' (the first block).
        const outputGradient = tf.reshape(dy, [rows * dv]);
        const g = tf
          .engine()
          .runKernel(
            DELTA_RULE_GRAD,
            { query: sq!, key: sk!, value: sv!, beta: sb!, logAlpha: sa!, forwardOutput: sf!, outputGradient },
            TIME_MAJOR,
          ) as tf.Tensor1D;
        let at = 0;
        const part = (d: number, shape: number[]) => {
          const r = tf.reshape(tf.slice(g, [at], [rows * d]), shape);
          at += rows * d;
          return r;
        };
        // The packed order is the inputs' order: dq, dk, dv, dβ, d log α.
        return [part(dk, [B, T, H, dk]), part(dk, [B, T, H, dk]), part(dv, [B, T, H, dv]), part(1, [B, T, H]), part(1, [B, T, H])];
      },
    };
  });
  return op(query, key, value, beta, la) as tf.Tensor4D;
}
