import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "./files.js";

/**
 * A training checkpoint in one file, written atomically: a little-endian u32 header length, a JSON header
 * (scalars, and the name, kind and size of every array), then the float32 arrays in header order.
 */
export interface CheckpointArrays {
  /** Parameters, Adam first and second moments, by parameter name. */
  params: Map<string, Float32Array>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export interface Checkpoint<M> {
  meta: M;
  arrays: CheckpointArrays;
}

const KINDS = ["params", "m", "v"] as const;

export function writeCheckpoint<M>(path: string, checkpoint: Checkpoint<M>): void {
  const entries: { kind: (typeof KINDS)[number]; name: string; size: number }[] = [];
  const chunks: Float32Array[] = [];
  for (const kind of KINDS) {
    for (const [name, values] of checkpoint.arrays[kind]) {
      entries.push({ kind, name, size: values.length });
      chunks.push(values);
    }
  }
  const header = Buffer.from(JSON.stringify({ version: 1, meta: checkpoint.meta, entries }), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  const body = Buffer.concat([length, header, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]);
  writeFileAtomic(path, body);
}

export function readCheckpoint<M>(path: string): Checkpoint<M> | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  const headerLength = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + headerLength).toString("utf8")) as {
    meta: M;
    entries: { kind: (typeof KINDS)[number]; name: string; size: number }[];
  };
  const arrays: CheckpointArrays = { params: new Map(), m: new Map(), v: new Map() };
  let offset = 4 + headerLength;
  for (const e of header.entries) {
    const bytes = buf.subarray(offset, offset + e.size * 4);
    // Copy into an aligned buffer: the slice of a Buffer need not be 4-byte aligned.
    arrays[e.kind].set(e.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    offset += e.size * 4;
  }
  return { meta: header.meta, arrays };
}
