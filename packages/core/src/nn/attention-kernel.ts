import { type ArrayBackend, type WebgpuBackend, floatOutput, registerOnce } from "../kernel-registration.js";
import type { WgslProgram } from "../recurrence/linear/scan-webgpu.js";
import { swapMiddleAxes } from "../recurrence/tensor-ops.js";
import { SelectivError } from "../errors.js";
import { tf } from "../tf.js";
import { type AttentionSizes, ROWS_PER_WORKGROUP, attentionProgram, keyValueInputs, layoutShape } from "./attention-frame.js";
import {
  forwardTilesProgram,
  keyValueGradientTilesProgram,
  queryGradientTilesProgram,
  statsTilesProgram,
  tilesFit,
} from "./attention-tiles.js";

/**
 * Causal softmax attention (docs/spec/MODELS.md §6.3) as registered TF.js kernels: one dispatch forward and four
 * backward on webgpu, with no T×T score matrix stored. Per lane (batch × head), with q, k [T, D], v [T, Dv]:
 *   s_ts = scale · q_t·k_s (s ≤ t),   m_t = max_s s_ts,   l_t = Σ_s exp(s_ts − m_t),   p_ts = exp(s_ts − m_t) / l_t,
 *   o_t = Σ_s p_ts v_s.
 * Backward, with do = ∂L/∂o and D_t = do_t·o_t (= Σ_s p_ts do_t·v_s):
 *   dq_t = scale Σ_{s≤t} p_ts (do_t·v_s − D_t) k_s,   dk_s = scale Σ_{t≥s} p_ts (do_t·v_s − D_t) q_t,
 *   dv_s = Σ_{t≥s} p_ts do_t.
 * p is recomputed from m_t and l_t (one stats pass), not stored.
 *
 * SelectivCausalAttention — inputs query, key [B, H, T, D], value [B, H, T, Dv]; attr scale; output [B, H, T, Dv].
 * SelectivCausalAttentionGrad — the same inputs plus output (the forward's) and dy; outputs [dq, dk, dv].
 * Attr `timeMajor`: every tensor [B, T, H, ·] instead (a projection reshaped into heads: no transposes around it).
 * cpu and wasm register float64 loops: the oracle of the WGSL kernels, beside the TF-op form that cpu and wasm
 * keep training with (attention-kernel.test.ts).
 */
export const CAUSAL_ATTENTION = "SelectivCausalAttention";
export const CAUSAL_ATTENTION_GRAD = "SelectivCausalAttentionGrad";

interface AttentionAttrs {
  readonly scale: number;
  readonly timeMajor?: boolean;
}

type Inputs = Record<string, tf.TensorInfo>;

function dims(inputs: Inputs, timeMajor = false) {
  const [B, second, third, D] = inputs.query!.shape as [number, number, number, number];
  const [H, T] = timeMajor ? [third, second] : [second, third];
  return { B, H, T, D, Dv: inputs.value!.shape[3]!, lanes: B * H };
}

/** The attention weights p_ts (s ≤ t) of query row t of a lane, in float64. */
function scoresOf(q: Float32Array, k: Float32Array, lane: number, t: number, T: number, D: number, scale: number) {
  const scores = new Float64Array(t + 1);
  for (let s = 0; s <= t; s++) {
    let dot = 0;
    for (let i = 0; i < D; i++) dot += q[(lane * T + t) * D + i]! * k[(lane * T + s) * D + i]!;
    scores[s] = dot * scale;
  }
  let m = -Infinity;
  for (const x of scores) m = Math.max(m, x);
  let l = 0;
  for (const x of scores) l += Math.exp(x - m);
  // p_ts = exp(s_ts − m_t) / l_t
  return scores.map((x) => Math.exp(x - m) / l);
}

/** A cpu kernel's reads and writes, lane-major: time-major tensors are swapped on the way in and out. */
function laneMajorIO(b: ArrayBackend, x: Inputs, timeMajor: boolean) {
  const { B, H, T } = dims(x, timeMajor);
  return {
    read: (name: string) => {
      const values = b.readSync(x[name]!.dataId) as Float32Array;
      return timeMajor ? swapMiddleAxes(values, B, T, H, x[name]!.shape[3]!) : values;
    },
    output: (values: Float32Array, width: number) =>
      timeMajor ? floatOutput(b, swapMiddleAxes(values, B, H, T, width), [B, T, H, width]) : floatOutput(b, values, [B, H, T, width]),
  };
}

function cpuKernels(backendName: "cpu" | "wasm"): tf.KernelConfig[] {
  return [
    {
      kernelName: CAUSAL_ATTENTION,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const { scale, timeMajor = false } = attrs as unknown as AttentionAttrs;
        const { T, D, Dv, lanes } = dims(x, timeMajor);
        const { read, output } = laneMajorIO(b, x, timeMajor);
        const [q, k, v] = [read("query"), read("key"), read("value")];
        const o = new Float32Array(lanes * T * Dv);
        for (let lane = 0; lane < lanes; lane++)
          for (let t = 0; t < T; t++) {
            const p = scoresOf(q, k, lane, t, T, D, scale);
            for (let j = 0; j < Dv; j++) {
              let acc = 0;
              for (let s = 0; s <= t; s++) acc += p[s]! * v[(lane * T + s) * Dv + j]!;
              o[(lane * T + t) * Dv + j] = acc;
            }
          }
        return output(o, Dv);
      },
    },
    {
      kernelName: CAUSAL_ATTENTION_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as ArrayBackend;
        const x = inputs as Inputs;
        const { scale, timeMajor = false } = attrs as unknown as AttentionAttrs;
        const { T, D, Dv, lanes } = dims(x, timeMajor);
        const { read, output } = laneMajorIO(b, x, timeMajor);
        const [q, k, v] = [read("query"), read("key"), read("value")];
        const [o, dy] = [read("output"), read("dy")];
        const dq = new Float64Array(lanes * T * D);
        const dk = new Float64Array(lanes * T * D);
        const dv = new Float64Array(lanes * T * Dv);
        for (let lane = 0; lane < lanes; lane++)
          for (let t = 0; t < T; t++) {
            const p = scoresOf(q, k, lane, t, T, D, scale);
            const row = (lane * T + t) * Dv;
            let Dt = 0;
            for (let j = 0; j < Dv; j++) Dt += dy[row + j]! * o[row + j]!;
            for (let s = 0; s <= t; s++) {
              let dp = 0;
              for (let j = 0; j < Dv; j++) dp += dy[row + j]! * v[(lane * T + s) * Dv + j]!;
              const ds = p[s]! * (dp - Dt) * scale; // ∂L/∂(q_t·k_s)
              for (let i = 0; i < D; i++) {
                dq[(lane * T + t) * D + i] += ds * k[(lane * T + s) * D + i]!;
                dk[(lane * T + s) * D + i] += ds * q[(lane * T + t) * D + i]!;
              }
              for (let j = 0; j < Dv; j++) dv[(lane * T + s) * Dv + j] += p[s]! * dy[row + j]!;
            }
          }
        return [output(Float32Array.from(dq), D), output(Float32Array.from(dk), D), output(Float32Array.from(dv), Dv)];
      },
    },
  ];
}

const WORKGROUP = ROWS_PER_WORKGROUP;
/** Floats of workgroup memory for one staged tile (16 KiB, within WebGPU's default limit). */
const TILE_FLOATS = 4096;

/** Rows per staged tile when each row holds `floatsPerRow` floats: as many as TILE_FLOATS allows, at most 64. */
export function tileRows(floatsPerRow: number): number {
  return Math.max(1, Math.min(WORKGROUP, Math.floor(TILE_FLOATS / floatsPerRow)));
}

/** One staged operand: its name, the tile array, and the floats each of its rows holds. */
interface Staged {
  readonly input: string;
  readonly tile: string;
  readonly width: string;
  /** The softmax statistics: lane-major in either layout (the grad kernel's own intermediate). */
  readonly internal?: boolean;
}

/**
 * One invocation per row of the workgroup's 64 (./attention-frame.ts): `row` (its row), `at` (its row in the inputs
 * and outputs), `statAt` = lane·T + row and `valid` are defined for the body. The other side's rows (keys for a query
 * row, queries for a key row) pass through workgroup memory KT rows at a time: every row of the tile is read from
 * memory once per workgroup, in consecutive addresses, instead of once per invocation (64 rows shared one key in an
 * L1 line at best). Rows are held as vec4s (a row of D floats in ⌈D/4⌉ vec4s, the padding 0), in the tiles and in
 * each invocation's private rows: one workgroup-memory read feeds four multiply-adds, where a float per read left
 * the loops bound by workgroup-memory reads.
 * `stage(names, active)` gives the WGSL that loads tile rows s0 … s0 + KT − 1 of the named operands where `active`
 * holds; barriers stay in control flow that depends on uniforms alone, as WGSL requires. D and Dv size private arrays
 * and tiles.
 */
function program(
  name: string,
  variableNames: string[],
  outputShape: number[],
  sizes: AttentionSizes,
  staged: Staged[],
  body: string,
): WgslProgram {
  const { D, Dv } = sizes;
  // Floats per staged row: query/key and value rows padded to whole vec4s.
  const widths: Record<string, number> = { DK: 4 * Math.ceil(D / 4), DV: 4 * Math.ceil(Dv / 4), "3": 3 };
  const kt = tileRows(staged.reduce((n, x) => n + widths[x.width]!, 0));
  return attentionProgram({
    name: `rows_${name}`,
    variableNames,
    outputShape,
    sizes,
    workgroupSize: WORKGROUP,
    declarations: `const DK4 : i32 = ${Math.ceil(D / 4)};
      const DV4 : i32 = ${Math.ceil(Dv / 4)};
      const KT : i32 = ${kt};
      ${staged
        .map((x) =>
          x.internal
            ? `var<workgroup> ${x.tile} : array<f32, ${kt * widths[x.width]!}>;`
            : `var<workgroup> ${x.tile} : array<vec4<f32>, ${(kt * widths[x.width]!) / 4}>;`,
        )
        .join("\n      ")}`,
    body: `let row = base + lid;
        let valid = laneValid && row < T;
        let at = rowAt(lane, row, T);
        let statAt = lane * T + row;
        let lastRow = min(T, base + ${WORKGROUP}) - 1;
        ${body}`,
  });
}

/** WGSL: load rows s0 … s0 + KT − 1 (those below T) of each staged operand into its tile, where `active` holds. */
function stage(staged: Staged[], active: string): string {
  return `if (laneValid && ${active}) {
          ${staged
            .map((x) =>
              x.internal
                ? `for (var e = lid; e < KT * ${x.width}; e += ${WORKGROUP}) {
            if (s0 + e / ${x.width} < T) { ${x.tile}[e] = ${x.input}[(lane * T + s0) * ${x.width} + e]; }
          }`
                : // Row r's entry c goes to component c % 4 of vec4 c / 4; the padding of a row stays 0.
                  `for (var e = lid; e < KT * ${x.width}; e += ${WORKGROUP}) {
            let r = e / ${x.width};
            let c = e % ${x.width};
            if (s0 + r < T) { ${x.tile}[r * ${x.width}4 + c / 4][c % 4] = ${x.input}[rowAt(lane, s0 + r, T) * ${x.width} + c]; }
          }`,
            )
            .join("\n          ")}
        }`;
}

/** scale · q·k_j for the query row held in qRow and row j of the key tile. */
const SCORE = `
              var qk = 0.0;
              for (var i = 0; i < DK4; i++) { qk += dot(qRow[i], keyTile[j * DK4 + i]); }
              let score = qk * scale;`;

const KEYS: Staged = { input: "key", tile: "keyTile", width: "DK" };
const VALUES: Staged = { input: "value", tile: "valueTile", width: "DV" };

/**
 * WGSL: for each key s ≤ row of this invocation's query row, in tiles of KT keys, run `each` (s and j, its row in
 * the tiles, are defined). Tiles past the workgroup's last row load nothing.
 */
function overKeys(staged: Staged[], each: string): string {
  return `for (var s0 = 0; s0 < T; s0 += KT) {
          ${stage(staged, "s0 <= lastRow")}
          workgroupBarrier();
          if (valid) {
            for (var j = 0; j < KT; j++) {
              let s = s0 + j;
              if (s > row) { break; }
              ${each}
            }
          }
          workgroupBarrier();
        }`;
}

/** WGSL: `name`, a private row of `width` (DK or DV) floats as vec4s (padding 0), loaded from row `at` of `input`. */
const loadRow = (name: string, width: "DK" | "DV", input: string) => `var ${name} : array<vec4<f32>, ${width}4>;
        if (valid) { for (var i = 0; i < ${width}; i++) { ${name}[i / 4][i % 4] = ${input}[at * ${width} + i]; } }`;

const LOAD_QUERY = loadRow("qRow", "DK", "query");

/**
 * Forward, one invocation per query row t: an online softmax over s ≤ t. A running max m and sum l; when m grows,
 * l and the accumulated output are rescaled by exp(m_old − m_new), so o_t = acc / l at the end.
 */
function forwardProgram(s: AttentionSizes): WgslProgram {
  return program(
    "forward",
    ["query", "key", "value"],
    layoutShape(s.B, s.T, s.Dv, s.layout),
    s,
    [KEYS, VALUES],
    `
        ${LOAD_QUERY}
        var acc : array<vec4<f32>, DV4>;
        var m = -3.0e38;
        var l = 0.0;
        ${overKeys(
          [KEYS, VALUES],
          `${SCORE}
              let mNew = max(m, score);
              let rescale = exp(m - mNew);
              let p = exp(score - mNew);
              l = l * rescale + p;
              for (var c = 0; c < DV4; c++) { acc[c] = acc[c] * rescale + p * valueTile[j * DV4 + c]; }
              m = mNew;`,
        )}
        if (valid) { for (var c = 0; c < DV; c++) { result[at * DV + c] = acc[c / 4][c % 4] / l; } }`,
  );
}

/** Per query row t: [m_t, l_t, D_t] (m and l by the forward's online softmax; D_t = do_t·o_t). */
function statsProgram(s: AttentionSizes): WgslProgram {
  return program(
    "stats",
    ["query", "key", "output", "dy"],
    [s.lanes, s.T, 3],
    s,
    [KEYS],
    `
        ${LOAD_QUERY}
        var m = -3.0e38;
        var l = 0.0;
        ${overKeys(
          [KEYS],
          `${SCORE}
              let mNew = max(m, score);
              l = l * exp(m - mNew) + exp(score - mNew);
              m = mNew;`,
        )}
        if (valid) {
          var outputDotDy = 0.0;
          for (var c = 0; c < DV; c++) { outputDotDy += output[at * DV + c] * dy[at * DV + c]; }
          result[statAt * 3] = m;
          result[statAt * 3 + 1] = l;
          result[statAt * 3 + 2] = outputDotDy;
        }`,
  );
}

/** dq_t = scale Σ_{s≤t} p_ts (do_t·v_s − D_t) k_s, one invocation per query row t. */
function queryGradientProgram(s: AttentionSizes): WgslProgram {
  return program(
    "dq",
    ["query", "key", "value", "dy", "stats"],
    layoutShape(s.B, s.T, s.D, s.layout),
    s,
    [KEYS, VALUES],
    `
        ${LOAD_QUERY}
        ${loadRow("dyRow", "DV", "dy")}
        var acc : array<vec4<f32>, DK4>;
        var m = 0.0;
        var l = 1.0;
        var outputDotDy = 0.0;
        if (valid) {
          m = stats[statAt * 3];
          l = stats[statAt * 3 + 1];
          outputDotDy = stats[statAt * 3 + 2];
        }
        ${overKeys(
          [KEYS, VALUES],
          `${SCORE}
              let p = exp(score - m) / l;
              var dp = 0.0;
              for (var c = 0; c < DV4; c++) { dp += dot(dyRow[c], valueTile[j * DV4 + c]); }
              let ds = p * (dp - outputDotDy);
              for (var i = 0; i < DK4; i++) { acc[i] += ds * keyTile[j * DK4 + i]; }`,
        )}
        if (valid) { for (var i = 0; i < DK; i++) { result[at * DK + i] = acc[i / 4][i % 4] * scale; } }`,
  );
}

/**
 * One invocation per key row s, over the queries t ≥ s that see it, in tiles of KT queries (with their do rows and
 * stats): dk_s = scale Σ_t p_ts (do_t·v_s − D_t) q_t, or dv_s = Σ_t p_ts do_t. Query tiles wholly before the
 * workgroup's first row load nothing.
 */
function keyValueGradientProgram(which: "dk" | "dv", s: AttentionSizes): WgslProgram {
  const width = which === "dk" ? s.D : s.Dv;
  const staged: Staged[] = [
    { input: "query", tile: "queryTile", width: "DK" },
    { input: "dy", tile: "dyTile", width: "DV" },
    { input: "stats", tile: "statsTile", width: "3", internal: true },
  ];
  return program(
    which,
    keyValueInputs(which),
    layoutShape(s.B, s.T, width, s.layout),
    s,
    staged,
    `
        ${loadRow("kRow", "DK", "key")}
        ${which === "dk" ? loadRow("vRow", "DV", "value") : ""}
        var acc : array<vec4<f32>, ${which === "dk" ? "DK4" : "DV4"}>;
        for (var s0 = 0; s0 < T; s0 += KT) {
          ${stage(staged, `s0 + KT > base`)}
          workgroupBarrier();
          if (valid) {
            for (var j = 0; j < KT; j++) {
              let t = s0 + j;
              if (t >= T) { break; }
              if (t < row) { continue; }
              var qk = 0.0;
              for (var i = 0; i < DK4; i++) { qk += dot(queryTile[j * DK4 + i], kRow[i]); }
              let p = exp(qk * scale - statsTile[j * 3]) / statsTile[j * 3 + 1];
              ${
                which === "dk"
                  ? `var dp = 0.0;
              for (var c = 0; c < DV4; c++) { dp += dot(dyTile[j * DV4 + c], vRow[c]); }
              let ds = p * (dp - statsTile[j * 3 + 2]);
              for (var i = 0; i < DK4; i++) { acc[i] += ds * queryTile[j * DK4 + i]; }`
                  : `for (var c = 0; c < DV4; c++) { acc[c] += p * dyTile[j * DV4 + c]; }`
              }
            }
          }
          workgroupBarrier();
        }
        if (valid) { for (var i = 0; i < ${width}; i++) { result[at * ${width} + i] = acc[i / 4][i % 4]${which === "dk" ? " * scale" : ""}; } }`,
  );
}

/** The WGSL programs of one form: rows (one invocation per row, ./attention-kernel.ts) or 64 × 64 tiles. */
interface Programs {
  forward: typeof forwardProgram;
  stats: typeof statsProgram;
  dq: typeof queryGradientProgram;
  keyValue: typeof keyValueGradientProgram;
}

const ROWS: Programs = { forward: forwardProgram, stats: statsProgram, dq: queryGradientProgram, keyValue: keyValueGradientProgram };
const TILES: Programs = {
  forward: forwardTilesProgram,
  stats: statsTilesProgram,
  dq: queryGradientTilesProgram,
  keyValue: keyValueGradientTilesProgram,
};

/**
 * Tiles where the device's workgroup memory holds them (about 29 KiB for heads up to 64 wide: above WebGPU's
 * default 16 KiB, so on a device created with the adapter's limits, ../webgpu-device.ts); rows otherwise, or under
 * SELECTIV_ATTENTION=rows.
 */
function programsFor(backend: unknown, D: number, Dv: number): Programs {
  const asked = process.env.SELECTIV_ATTENTION;
  if (asked !== undefined && asked !== "rows" && asked !== "tiles")
    throw new SelectivError(`SELECTIV_ATTENTION=${JSON.stringify(asked)}: expected rows, tiles or unset (tiles where they fit)`);
  if (asked === "rows") return ROWS;
  const limit = (backend as { device?: { limits?: { maxComputeWorkgroupStorageSize?: number } } } | undefined)?.device?.limits
    ?.maxComputeWorkgroupStorageSize;
  return tilesFit(D, Dv, limit ?? 16384) ? TILES : ROWS;
}

/** The form the webgpu kernels take for key width D and value width Dv on the current webgpu backend. */
export function webgpuAttentionForm(D: number, Dv: number): "tiles" | "rows" {
  return programsFor(tf.findBackend("webgpu"), D, Dv) === TILES ? "tiles" : "rows";
}

function webgpuKernels(): tf.KernelConfig[] {
  /** The sizes the programs are built for, from the inputs' shapes and the layout attribute. */
  const sizesOf = (x: Inputs, a: AttentionAttrs): AttentionSizes => {
    const { B, H, T, D, Dv, lanes } = dims(x, a.timeMajor);
    return { lanes, T, B, D, Dv, layout: { timeMajor: a.timeMajor === true, heads: H } };
  };
  const uniforms = (x: Inputs, a: AttentionAttrs) => {
    const { T, lanes } = dims(x, a.timeMajor);
    return [
      { type: "int32", data: [lanes] },
      { type: "int32", data: [T] },
      { type: "float32", data: [a.scale] },
    ];
  };
  return [
    {
      kernelName: CAUSAL_ATTENTION,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as AttentionAttrs;
        const sizes = sizesOf(x, a);
        return (backend as unknown as WebgpuBackend).runWebGPUProgram(
          programsFor(backend, sizes.D, sizes.Dv).forward(sizes),
          [x.query!, x.key!, x.value!],
          "float32",
          uniforms(x, a),
        );
      },
    },
    {
      kernelName: CAUSAL_ATTENTION_GRAD,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const x = inputs as Inputs;
        const a = attrs as unknown as AttentionAttrs;
        const gpu = backend as unknown as WebgpuBackend;
        const sizes = sizesOf(x, a);
        const form = programsFor(backend, sizes.D, sizes.Dv);
        const u = uniforms(x, a);
        const [q, k, v, dy] = [x.query!, x.key!, x.value!, x.dy!];
        const stats = gpu.runWebGPUProgram(form.stats(sizes), [q, k, x.output!, dy], "float32", u);
        const dq = gpu.runWebGPUProgram(form.dq(sizes), [q, k, v, dy, stats], "float32", u);
        const dk = gpu.runWebGPUProgram(form.keyValue("dk", sizes), [q, k, v, dy, stats], "float32", u);
        const dv = gpu.runWebGPUProgram(form.keyValue("dv", sizes), [q, k, dy, stats], "float32", u);
        gpu.disposeData(stats.dataId);
        return [dq, dk, dv];
      },
    },
  ];
}

/** Registers both kernels for cpu, wasm and webgpu (once). */
export const registerAttentionKernels = registerOnce(cpuKernels, webgpuKernels);

/**
 * Causal softmax attention through the registered kernels, differentiable in q, k and v: [B, H, T, ·], or with
 * `timeMajor` [B, T, H, ·] (a projection reshaped into heads).
 */
export function causalAttentionKernel(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, timeMajor = false): tf.Tensor4D {
  registerAttentionKernels();
  const attrs = { scale, timeMajor } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [query, key, value] = args as tf.Tensor[];
    const output = tf.engine().runKernel(CAUSAL_ATTENTION, { query: query!, key: key!, value: value! }, attrs) as tf.Tensor4D;
    // The output is saved too: the backward needs D_t = do_t·o_t.
    (args[3] as tf.GradSaveFunc)([query!, key!, value!, output]);
    return {
      value: output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf
          .engine()
          .runKernel(
            CAUSAL_ATTENTION_GRAD,
            { query: saved[0]!, key: saved[1]!, value: saved[2]!, output: saved[3]!, dy },
            attrs,
          ) as unknown as tf.Tensor[],
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}
