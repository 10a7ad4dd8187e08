import { readFileSync } from "node:fs";
import { SelectivError } from "./errors.js";
import { writeFileAtomic } from "./files.js";

/**
 * The safetensors format (huggingface/safetensors), float32 only:
 *
 *   u64 LE header length N | N bytes of JSON: { name: { dtype, shape, data_offsets: [begin, end] }, …,
 *   "__metadata__": { string: string } } | the tensors' bytes, little-endian, row-major.
 *
 * Offsets count from the first byte after the header. The header is padded with spaces to a multiple of 8 bytes,
 * so every tensor starts aligned; the tensors fill the data section exactly, without gaps or overlaps.
 */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface SafetensorsContents {
  /** Tensors by name, in the order of their data. */
  readonly tensors: Map<string, Float32Tensor>;
  readonly metadata: Record<string, string>;
}

/** Headers above this size are refused before parsing (the Python reader's own limit is 100 MB). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the format defines, so a foreign file's sizes can be checked before refusing it. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const METADATA_KEY = "__metadata__";
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The bytes of a safetensors file holding `tensors` (float32) and `metadata`; tensors are written in name order. */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, Float32Tensor>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (name === METADATA_KEY) throw new Error(`safetensors: ${METADATA_KEY} cannot name a tensor`);
    if (t.shape.some((s) => !Number.isInteger(s) || s < 0) || elementCount(t.shape) !== t.data.length) {
      throw new Error(`safetensors: tensor ${name} has shape [${t.shape.join(", ")}] but ${t.data.length} values`);
    }
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const padding = (8 - (json.length % 8)) % 8;
  if (padding) json = Buffer.concat([json, Buffer.alloc(padding, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (LITTLE_ENDIAN) out.set(bytes, at);
    else {
      const view = new DataView(out.buffer, at, data.byteLength);
      data.forEach((x, i) => view.setFloat32(4 * i, x, true));
    }
    at += data.byteLength;
  }
  return out;
}

/**
 * Reads safetensors bytes, checking everything: header length in bounds, a JSON object header, string metadata,
 * every tensor's dtype (F32 only), shape and offsets (in range, matching its size, no overlaps, no gaps). Any
 * problem is a one-line SelectivError naming `source` and what is wrong.
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContents {
  const fail = (what: string): SelectivError => new SelectivError(`${source}: ${what}`);
  const notSafetensors = (why: string): SelectivError => fail(`not a safetensors file (${why})`);
  if (bytes.length < 8) throw notSafetensors(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(Math.min(MAX_SAFETENSORS_HEADER_BYTES, bytes.length - 8))) {
    throw notSafetensors(`header length ${headerLength} outside 2..${Math.min(MAX_SAFETENSORS_HEADER_BYTES, bytes.length - 8)}`);
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString("utf8"));
  } catch {
    throw notSafetensors("its header is not JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw notSafetensors("its header is not a JSON object");
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const rawMetadata = (header as Record<string, unknown>)[METADATA_KEY];
  if (rawMetadata !== undefined) {
    if (typeof rawMetadata !== "object" || rawMetadata === null || Array.isArray(rawMetadata)) {
      throw fail(`${METADATA_KEY} is not an object of strings`);
    }
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== "string") throw fail(`${METADATA_KEY}.${key} is ${JSON.stringify(value)}; metadata values must be strings`);
      metadata[key] = value;
    }
  }

  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof e !== "object" || e === null) throw fail(`tensor ${name}: its header entry is not an object`);
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) {
      throw fail(`tensor ${name}: unknown dtype ${JSON.stringify(e.dtype)}; safetensors dtypes are ${Object.keys(DTYPE_BYTES).join(", ")}`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw fail(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] in bytes`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      throw fail(`tensor ${name}: data_offsets [${begin}, ${end}] outside the ${dataLength} data bytes`);
    }
    const expectedBytes = elementCount(shape as number[]) * DTYPE_BYTES[e.dtype]!;
    if (end - begin !== expectedBytes) {
      throw fail(
        `tensor ${name}: shape [${shape.join(", ")}] of ${e.dtype} needs ${expectedBytes} bytes, its data_offsets give ${end - begin}`,
      );
    }
    if (e.dtype !== "F32") {
      throw fail(`tensor ${name} has dtype ${e.dtype}; selectiv reads F32 only (save the state_dict with v.float(), docs/WEIGHTS.md)`);
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin < covered) throw fail(`tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] overlap another tensor's`);
    if (e.begin > covered) throw fail(`tensor ${e.name}: a gap of ${e.begin - covered} bytes before its data`);
    covered = e.end;
  }
  if (covered !== dataLength) throw fail(`${dataLength - covered} data bytes after the last tensor`);

  const tensors = new Map<string, Float32Tensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / 4;
    const at = dataStart + e.begin;
    let data: Float32Array;
    if (LITTLE_ENDIAN) {
      // A copy into a fresh buffer: the file's bytes need not be 4-byte aligned in memory.
      data = new Float32Array(new Uint8Array(bytes.subarray(at, at + 4 * count)).buffer);
    } else {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Writes a safetensors file atomically (files.ts `writeFileAtomic`). */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Float32Tensor>,
  metadata: Readonly<Record<string, string>> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Reads and checks a safetensors file; a missing or unreadable file is a one-line SelectivError naming it. */
export function readSafetensors(path: string): SafetensorsContents {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SelectivError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"}); give a .safetensors file`);
  }
  return decodeSafetensors(bytes, path);
}
