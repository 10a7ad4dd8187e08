import type { WebgpuBackend } from "../../kernel-registration.js";
import { type AxisRun, runAxisSum } from "../../nn/axis-sum.js";
import { broadcastSummingGradient } from "../../nn/layers.js";
import { tf } from "../../tf.js";
import { type RecurrenceResult, swapMiddleAxes, unpack } from "../tensor-ops.js";
import { fusedScanArrays } from "./fused.js";
import type { RecurrenceInputs } from "./inputs.js";
import {
  type WgslProgram,
  decayGradientProgram,
  forwardProgram,
  gradientWidth,
  keyDecayGradientProgram,
  queryGradientProgram,
  valueGradientProgram,
} from "./scan-webgpu.js";
import {
  type ScanLayout,
  scalarDecayGradientProgram,
  splitForwardProgram,
  splitKeyGradientProgram,
  splitQueryGradientProgram,
  splitValueGradientProgram,
} from "./scan-webgpu-split.js";

/**
 * The decayed linear scan of docs/spec/MODELS.md §6.1 as two registered TF.js kernels, one program each per backend:
 * WGSL on webgpu (./scan-webgpu.ts), the fused Float32Array scan of ./fused.ts on cpu and wasm (the oracle the
 * WGSL kernels are tested against, with ./naive.ts).
 *
 * SelectivDecayedLinearScan — inputs query, key [B, H, T, d_k], value [B, H, T, d_v], logAlpha [B, H, T, d_k]
 * (a diagonal decay), initialState [B, H, d_k, d_v]; output [B, H, T·d_v + d_k·d_v]: the readouts o_t = S_tᵀ q_t,
 * then the final state.
 * SelectivDecayedLinearScanGrad — the same inputs plus forwardOutput (the output above) and outputGradient (its
 * gradient); output [B, H, 3·T·d_k + T·d_v + d_k·d_v]: dq, dk, d log α, dv, ∂L/∂S_0 of each lane, packed.
 *
 * With attr `withState: false` (training: S_0 = 0 and no final state) neither takes initialState: the scan's output
 * is the readouts [B, H, T, d_v] alone, and the gradient kernel has four outputs, dq, dk, d log α and dv, each laid
 * out as its input — no packing, so no slices (7 dispatches a layer fewer on webgpu). With `withState: false`, attr
 * `timeMajor: true` takes and gives every tensor as [B, T, H, ·] instead of [B, H, T, ·]: a layer's projections
 * reshaped into heads, with no transposes around the scan (kernelScanOutput's `timeMajor`). Without state the query
 * and key may also have one head shared by every head ([B, 1, T, d_k] / [B, T, 1, d_k]: Mamba2's C and B) and
 * logAlpha may be a scalar decay ([B, H, T] / [B, T, H]): the programs read them in place, where broadcasting them
 * to every lane and key channel cost a Tile each forward and a sum each backward (§6.1).
 */
export const DECAYED_LINEAR_SCAN = "SelectivDecayedLinearScan";
export const DECAYED_LINEAR_SCAN_GRAD = "SelectivDecayedLinearScanGrad";

type Inputs = Record<string, tf.TensorInfo>;

function sizes(inputs: Inputs, timeMajor = false) {
  const [B, second, third, dv] = inputs.value!.shape as number[];
  const [H, T] = timeMajor ? [third!, second!] : [second!, third!];
  const dk = inputs.key!.shape[3]!;
  return { B: B!, H, T, dk, dv: dv! };
}

interface ArrayBackend {
  readSync(dataId: tf.DataId): unknown;
  write(values: Float32Array, shape: number[], dtype: tf.DataType): tf.DataId;
}

interface ScanAttrs {
  readonly withState?: boolean;
  readonly timeMajor?: boolean;
}

/** Attr `withState` (default true: a call without attrs keeps the stateful layout these kernels had first). */
const withStateOf = (attrs: unknown) => (attrs as ScanAttrs | undefined)?.withState !== false;
/** Attr `timeMajor` (default false; only without state). */
const timeMajorOf = (attrs: unknown) => !withStateOf(attrs) && (attrs as ScanAttrs | undefined)?.timeMajor === true;

/** [B, ·, ·, d] (or [B, ·, ·]) ↔ its two middle axes swapped: time-major ↔ lane-major. */
const swapLayout = (x: Float32Array, shape: readonly number[]) => swapMiddleAxes(x, shape[0]!, shape[1]!, shape[2]!, shape[3] ?? 1);

/** Heads of a query or key in either layout (1 when one head is shared by every head). */
const headsOf = (x: tf.TensorInfo, timeMajor: boolean) => x.shape[timeMajor ? 2 : 1]!;

function cpuScan(inputs: Inputs, backend: ArrayBackend, timeMajor = false) {
  const { B, H, T, dk, dv } = sizes(inputs, timeMajor);
  const read = (name: string) => {
    const x = backend.readSync(inputs[name]!.dataId) as Float32Array;
    return timeMajor ? swapLayout(x, inputs[name]!.shape) : x;
  };
  // Without state the query and key may be shared by every head and the decay scalar (log α [B, H, T]).
  const dims = {
    B,
    H,
    T,
    dk,
    dv,
    kind: inputs.logAlpha!.shape.length === 3 ? ("scalar" as const) : ("diagonal" as const),
    queryHeads: headsOf(inputs.query!, timeMajor),
    keyHeads: headsOf(inputs.key!, timeMajor),
  };
  const s0 = inputs.initialState ? read("initialState") : new Float32Array(B * H * dk * dv);
  return fusedScanArrays(dims, read("query"), read("key"), read("value"), read("logAlpha"), s0);
}

/** Per lane, the first `n` of every `width` values of a packed [lanes, width] array (or the reverse: `widen`). */
function lanePrefix(packed: Float32Array, lanes: number, width: number, n: number): Float32Array {
  const out = new Float32Array(lanes * n);
  for (let lane = 0; lane < lanes; lane++) out.set(packed.subarray(lane * width, lane * width + n), lane * n);
  return out;
}

function widen(values: Float32Array, lanes: number, n: number, width: number): Float32Array {
  const out = new Float32Array(lanes * width);
  for (let lane = 0; lane < lanes; lane++) out.set(values.subarray(lane * n, (lane + 1) * n), lane * width);
  return out;
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: DECAYED_LINEAR_SCAN,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(inputs as Inputs, timeMajor);
        const out = cpuScan(inputs as Inputs, b, timeMajor).out;
        if (!withStateOf(attrs)) {
          const readouts = lanePrefix(out, B * H, T * dv + dk * dv, T * dv);
          if (timeMajor) {
            const shape = [B, T, H, dv];
            return { dataId: b.write(swapMiddleAxes(readouts, B, H, T, dv), shape, "float32"), shape, dtype: "float32" };
          }
          const shape = [B, H, T, dv];
          return { dataId: b.write(readouts, shape, "float32"), shape, dtype: "float32" };
        }
        const shape = [B, H, T * dv + dk * dv];
        return { dataId: b.write(out, shape, "float32"), shape, dtype: "float32" };
      },
    },
    {
      kernelName: DECAYED_LINEAR_SCAN_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        const dyRead = b.readSync(x.outputGradient!.dataId) as Float32Array;
        const dy = timeMajor ? swapMiddleAxes(dyRead, B, T, H, dv) : dyRead;
        if (!withStateOf(attrs)) {
          // ∂L/∂S_T = 0: the packed gradient of the readouts with a zero final-state part.
          const g = cpuScan(x, b, timeMajor).backward(widen(dy, B * H, T * dv, T * dv + dk * dv));
          // Each gradient laid out as its input (lane-major from the fused scan, swapped back when time-major).
          return (
            [
              [g.dq, x.query!],
              [g.dk, x.key!],
              [g.dLogAlpha, x.logAlpha!],
              [g.dv, x.value!],
            ] as const
          ).map(([values, input]) => {
            const shape = input.shape;
            const laid = timeMajor ? swapLayout(values, [shape[0]!, shape[2]!, shape[1]!, shape[3] ?? 1]) : values;
            return { dataId: b.write(laid, shape, "float32"), shape, dtype: "float32" as const };
          });
        }
        // The forward scan again (it keeps the states the backward scan starts its segments from).
        const g = cpuScan(x, b).backward(dy);
        const width = gradientWidth(T, dk, dv);
        const packed = new Float32Array(B * H * width);
        for (let lane = 0; lane < B * H; lane++) {
          let at = lane * width;
          for (const [part, n] of [
            [g.dq, T * dk],
            [g.dk, T * dk],
            [g.dLogAlpha, T * dk],
            [g.dv, T * dv],
            [g.dInitialState, dk * dv],
          ] as const) {
            packed.set(part.subarray(lane * n, (lane + 1) * n), at);
            at += n;
          }
        }
        const shape = [B, H, width];
        return { dataId: b.write(packed, shape, "float32"), shape, dtype: "float32" };
      },
    },
  ];
}

/** The stateless programs' layout of a kernel call's inputs (./scan-webgpu-split.ts, ScanLayout). */
function stateless(x: Inputs, H: number, timeMajor: boolean): ScanLayout {
  return { timeMajor, heads: H, sharedQueryKey: headsOf(x.query!, timeMajor) !== H, scalarDecay: x.logAlpha!.shape.length === 3 };
}

function webgpuKernels(): tf.KernelConfig[] {
  // One entry per i32 field: the backend aligns a two-element entry as a vec2 (8 bytes), the struct's i32s at 4.
  const uniforms = (B: number, H: number, T: number) => [
    { type: "int32", data: [B * H] },
    { type: "int32", data: [T] },
  ];
  return [
    {
      kernelName: DECAYED_LINEAR_SCAN,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        const withState = withStateOf(attrs);
        const ordered = [x.query!, x.key!, x.value!, x.logAlpha!, ...(withState ? [x.initialState!] : [])];
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          withState ? forwardProgram(B, H, T, dk, dv) : splitForwardProgram(B, H, T, dk, dv, stateless(x, H, timeMajor)),
          ordered,
          "float32",
          uniforms(B, H, T),
        );
      },
    },
    {
      kernelName: DECAYED_LINEAR_SCAN_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const gpu = backend as unknown as WebgpuBackend;
        const timeMajor = timeMajorOf(attrs);
        const { B, H, T, dk, dv } = sizes(x, timeMajor);
        const u = uniforms(B, H, T);
        if (!withStateOf(attrs)) {
          const layout = stateless(x, H, timeMajor);
          const run = (p: WgslProgram, ins: tf.TensorInfo[]) => gpu.runWebGPUProgram(p, ins, "float32", u);
          const dy = x.outputGradient!;
          // dq and dk per lane; a shared head's are their sums over the heads, after the decay's gradient used them.
          const dqLanes = run(splitQueryGradientProgram(B, H, T, dk, dv, layout), [x.key!, x.value!, x.logAlpha!, dy]);
          const dkLanes = run(splitKeyGradientProgram(B, H, T, dk, dv, layout), [x.query!, x.value!, x.logAlpha!, dy]);
          const dLogAlpha = run(
            layout.scalarDecay ? scalarDecayGradientProgram(B, H, T, dk, layout) : decayGradientProgram(B, H, T, dk, dv, layout),
            [x.query!, x.key!, dqLanes, dkLanes],
          );
          const dValue = run(splitValueGradientProgram(B, H, T, dk, dv, layout), [x.query!, x.key!, x.logAlpha!, dy]);
          if (!layout.sharedQueryKey) return [dqLanes, dkLanes, dLogAlpha, dValue];
          const heads: AxisRun = timeMajor ? { outer: B * T, count: H, inner: dk } : { outer: B, count: H, inner: T * dk };
          const [dq, dKey] = [dqLanes, dkLanes].map((lanes, i) => {
            const summed = runAxisSum(gpu, lanes, heads, [x.query!, x.key!][i]!.shape);
            gpu.disposeData(lanes.dataId);
            return summed;
          });
          return [dq!, dKey!, dLogAlpha, dValue];
        }
        const queryGradient = gpu.runWebGPUProgram(
          queryGradientProgram(B, H, T, dk, dv),
          [x.key!, x.value!, x.logAlpha!, x.initialState!, x.outputGradient!],
          "float32",
          u,
        );
        const packed = gpu.runWebGPUProgram(
          keyDecayGradientProgram(B, H, T, dk, dv),
          [x.query!, x.key!, x.value!, x.logAlpha!, queryGradient, x.outputGradient!, x.forwardOutput!],
          "float32",
          u,
        );
        gpu.disposeData(queryGradient.dataId);
        // dv goes into its own region of the same buffer.
        gpu.runWebGPUProgram(
          valueGradientProgram(B, H, T, dk, dv),
          [x.query!, x.key!, x.logAlpha!, x.outputGradient!],
          "float32",
          u,
          packed,
        );
        return packed;
      },
    },
  ];
}

let registered = false;

/** Registers both kernels for cpu, wasm and webgpu (once; a backend that is never started costs nothing). */
export function registerDecayedLinearScanKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of [...cpuKernels("cpu"), ...cpuKernels("wasm"), ...webgpuKernels()]) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
}

const WITH_STATE = { withState: true } as unknown as tf.NamedAttrMap;
const WITHOUT_STATE = { withState: false } as unknown as tf.NamedAttrMap;
const TIME_MAJOR = { withState: false, timeMajor: true } as unknown as tf.NamedAttrMap;

/** x ([B, 1, ·, d] or [B, ·, 1, d], a head shared by every head) broadcast to every lane of `value`. */
function toEveryHead(x: tf.Tensor4D, value: tf.Tensor4D): tf.Tensor4D {
  const [B, second, third] = value.shape;
  return broadcastSummingGradient<tf.Tensor4D>(x, [B, second, third, x.shape[3]]);
}

/** Query, key and log α per lane and key channel, as the stateful kernels take them: broadcasts of a scalar decay and of shared heads (§6.1). */
function perLaneInputs(inputs: RecurrenceInputs) {
  const { query, key, value, decay } = inputs;
  // [B, H, T] or, time-major, [B, T, H]: the broadcasts are the same either way.
  const [B, second, third] = value.shape;
  const dk = key.shape[3];
  const logAlpha =
    decay.kind === "diagonal"
      ? decay.logAlpha
      : decay.kind === "scalar"
        ? broadcastSummingGradient<tf.Tensor4D>(tf.reshape(decay.logAlpha, [B, second, third, 1]), [B, second, third, dk])
        : tf.zeros([B, second, third, dk]);
  return { query: toEveryHead(query, value), key: toEveryHead(key, value), logAlpha };
}

/** The stateless kernels' inputs: shared query/key heads and a scalar decay as they are (no decay: log α = 0, scalar). */
function statelessInputs(inputs: RecurrenceInputs, timeMajor: boolean) {
  const { query, key, value, decay } = inputs;
  const [B, second, third] = value.shape;
  const head = timeMajor ? 2 : 1;
  // Both shared or neither: a lone shared head is broadcast.
  const [q, k] = query.shape[head] === key.shape[head] ? [query, key] : [toEveryHead(query, value), toEveryHead(key, value)];
  return { query: q, key: k, logAlpha: decay.kind === "none" ? tf.zeros([B, second, third]) : decay.logAlpha };
}

/**
 * The readouts o_t of the recurrence from S_0 = 0 through the registered kernels, without the final state — what
 * training asks for: one dispatch forward and four backward on webgpu (six with a shared head), nothing packed or sliced. `timeMajor`: every
 * input (a scalar decay [B, T, H]) and the readouts are [B, T, H, ·] instead of [B, H, T, ·].
 */
export function kernelScanOutput(inputs: RecurrenceInputs, timeMajor = false): tf.Tensor4D {
  registerDecayedLinearScanKernels();
  const attrs = timeMajor ? TIME_MAJOR : WITHOUT_STATE;
  const { query, key, logAlpha } = statelessInputs(inputs, timeMajor);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, la] = args as tf.Tensor[];
    (args[4] as tf.GradSaveFunc)([q!, k!, v!, la!]);
    return {
      value: tf.engine().runKernel(DECAYED_LINEAR_SCAN, { query: q!, key: k!, value: v!, logAlpha: la! }, attrs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sla] = saved;
        const [dq, dk, dLogAlpha, dv] = tf
          .engine()
          .runKernel(
            DECAYED_LINEAR_SCAN_GRAD,
            { query: sq!, key: sk!, value: sv!, logAlpha: sla!, outputGradient: dy },
            attrs,
          ) as tf.Tensor[];
        return [dq!, dk!, dv!, dLogAlpha!];
      },
    };
  });
  return op(query, key, inputs.value, logAlpha) as tf.Tensor4D;
}

/**
 * The recurrence through the registered kernels, with the gradient of SelectivDecayedLinearScanGrad. A scalar
 * decay is broadcast to every key channel and a query/key head shared by every head (Mamba2's C and B) to every
 * head: the broadcasts' gradients sum the per-channel and per-head results back (§6.1).
 */
export function kernelScan(inputs: RecurrenceInputs, initialState?: tf.Tensor4D): RecurrenceResult {
  registerDecayedLinearScanKernels();
  const { value } = inputs;
  const [B, H, T, dv] = value.shape;
  const dk = inputs.key.shape[3];
  const { query, key, logAlpha } = perLaneInputs(inputs);
  const s0 = initialState ?? tf.zeros([B, H, dk, dv]);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q, k, v, la, s] = args as tf.Tensor[];
    const save = args[5] as tf.GradSaveFunc;
    const forward = tf
      .engine()
      .runKernel(DECAYED_LINEAR_SCAN, { query: q!, key: k!, value: v!, logAlpha: la!, initialState: s! }, WITH_STATE) as tf.Tensor3D;
    save([q!, k!, v!, la!, s!, forward]);
    return {
      value: forward,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sla, ss, sf] = saved;
        const g = tf
          .engine()
          .runKernel(
            DECAYED_LINEAR_SCAN_GRAD,
            { query: sq!, key: sk!, value: sv!, logAlpha: sla!, initialState: ss!, forwardOutput: sf!, outputGradient: dy },
            WITH_STATE,
          ) as tf.Tensor3D;
        let at = 0;
        const part = (n: number, shape: number[]) => {
          const r = tf.reshape(tf.slice(g, [0, 0, at], [B, H, n]), shape);
          at += n;
          return r;
        };
        // The packed order (dq, dk, d log α, dv, ∂L/∂S_0), returned in the inputs' order.
        const queryGradient = part(T * dk, [B, H, T, dk]);
        const keyGradient = part(T * dk, [B, H, T, dk]);
        const logAlphaGradient = part(T * dk, [B, H, T, dk]);
        const valueGradient = part(T * dv, [B, H, T, dv]);
        const initialStateGradient = part(dk * dv, [B, H, dk, dv]);
        return [queryGradient, keyGradient, valueGradient, logAlphaGradient, initialStateGradient];
      },
    };
  });
  return unpack(op(query, key, value, logAlpha, s0) as tf.Tensor3D, T, dk, dv);
}
