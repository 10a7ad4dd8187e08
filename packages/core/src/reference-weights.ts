import { SelectivError } from "./errors.js";
import type { ReferenceLayout } from "./model.js";
import type { RecNet } from "./recnet.js";
import type { Float32Tensor } from "./safetensors.js";
import { tf } from "./tf.js";

/**
 * A network's weights as the reference's PyTorch RecNet holds them (docs/WEIGHTS.md): its state_dict names and
 * layouts, as float32 tensors, and back. Which name each parameter has comes from `RecNet.referenceLayout()`.
 */

/** The shape a parameter of shape `ours` has in PyTorch under `layout` (model.ts `ReferenceLayout`). */
export function referenceShape(layout: ReferenceLayout, ours: readonly number[]): number[] {
  if (layout === "same") return [...ours];
  if (ours.length !== 2) throw new Error(`layout ${layout} needs a 2-D parameter, got shape [${ours.join(", ")}]`);
  const [a, b] = ours as [number, number];
  if (layout === "transpose") return [b, a];
  // depthwise-conv: ours [K, C] → [C, 1, K]; pointwise-conv: ours [in, out] → [out, in, 1].
  return layout === "depthwise-conv" ? [b, 1, a] : [b, a, 1];
}

/** The [rows, cols] matrix `data` transposed (row-major in and out). */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Every layout other than `same` is the transpose of our 2-D matrix, viewed at PyTorch's rank. */
function toReference(layout: ReferenceLayout, ours: readonly number[], data: Float32Array): Float32Array {
  return layout === "same" ? data.slice() : transposed(data, ours[0]!, ours[1]!);
}

function fromReference(layout: ReferenceLayout, ours: readonly number[], data: Float32Array): Float32Array {
  return layout === "same" ? data.slice() : transposed(data, ours[1]!, ours[0]!);
}

/** A float32 with the 7 significant digits it carries. */
const float32Text = (x: number): string => String(Number(x.toPrecision(7)));
const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** The network's weights by reference state_dict name, in the reference's layouts, with its buffers. */
export async function referenceStateDict(net: RecNet): Promise<Map<string, Float32Tensor>> {
  const layout = net.referenceLayout();
  const variables = new Map(net.store.entries());
  const out = new Map<string, Float32Tensor>();
  for (const p of layout.parameters) {
    const v = variables.get(p.ours)!;
    const data = (await v.data()) as Float32Array;
    out.set(p.reference, { shape: referenceShape(p.layout, v.shape), data: toReference(p.layout, v.shape, data) });
  }
  for (const b of layout.buffers) out.set(b.reference, { shape: [...b.buffer.shape], data: b.buffer.values.slice() });
  return out;
}

/**
 * Sets every parameter of `net` from a reference state_dict. The tensors must be exactly the network's: a missing,
 * extra or mis-shaped tensor, or a buffer whose values the model's config does not give, is a one-line
 * SelectivError naming `source`, the tensor and the expected shape; nothing is assigned then.
 */
export function loadReferenceStateDict(net: RecNet, tensors: ReadonlyMap<string, Float32Tensor>, source: string): void {
  const layout = net.referenceLayout();
  const variables = new Map(net.store.entries());
  const s = net.shape;
  const network = `a ${net.definition.id} network of width ${s.width}, ${s.layers} layer${s.layers === 1 ? "" : "s"}, ${s.heads} heads, ${s.inputSize} inputs and ${s.numClasses} classes`;
  const problems: string[] = [];
  const expected = [
    ...layout.parameters.map((p) => ({ name: p.reference, shape: referenceShape(p.layout, variables.get(p.ours)!.shape) })),
    ...layout.buffers.map((b) => ({ name: b.reference, shape: [...b.buffer.shape] })),
  ];
  for (const e of expected) {
    const got = tensors.get(e.name);
    if (!got) problems.push(`tensor ${e.name} is missing; ${network} needs it with shape ${shapeText(e.shape)}`);
    else if (shapeText(got.shape) !== shapeText(e.shape)) {
      problems.push(`tensor ${e.name} has shape ${shapeText(got.shape)}; ${network} needs ${shapeText(e.shape)}`);
    }
  }
  const known = new Set(expected.map((e) => e.name));
  for (const [name, t] of tensors) {
    if (!known.has(name))
      problems.push(`tensor ${name} ${shapeText(t.shape)} is not a weight of ${network} (it has ${known.size} tensors)`);
  }
  for (const b of layout.buffers) {
    const got = tensors.get(b.reference);
    if (!got || problems.length) continue;
    const i = b.buffer.values.findIndex((x, j) => Math.abs(x - got.data[j]!) > 1e-6 * Math.max(1, Math.abs(x)));
    if (i >= 0) {
      problems.push(
        `tensor ${b.reference} holds ${float32Text(got.data[i]!)} at index ${i} where this ${net.definition.id} config gives ${float32Text(b.buffer.values[i]!)}; the buffer follows from the model's settings (--set ${net.definition.id}.KEY=V)`,
      );
    }
  }
  if (problems.length) {
    throw new SelectivError(
      `${source}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : ""}`,
    );
  }
  for (const p of layout.parameters) {
    const v = variables.get(p.ours)!;
    const values = fromReference(p.layout, v.shape, tensors.get(p.reference)!.data);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape, "float32")));
  }
}
