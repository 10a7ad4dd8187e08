import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { SelectivError } from "./errors.js";
import { writeFileAtomic } from "./files.js";

/**
 * A training checkpoint in one file, written atomically:
 *
 *   "SELECTIV-CKPT-2\n" (16 bytes) | SHA-256 of everything after it (32 bytes) | u32 LE header length |
 *   JSON header (meta, and the kind, name and size of every array) | the float32 arrays in header order.
 *
 * The digest covers header and data, so a flipped float, an edited header field or a cut file never loads.
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
const MAGIC = Buffer.from("SELECTIV-CKPT-2\n", "latin1");
const DIGEST_BYTES = 32;
const BODY_START = MAGIC.length + DIGEST_BYTES;

interface Header<M> {
  version: 2;
  meta: M;
  entries: { kind: (typeof KINDS)[number]; name: string; size: number }[];
}

export function writeCheckpoint<M>(path: string, checkpoint: Checkpoint<M>): void {
  const entries: Header<M>["entries"] = [];
  const chunks: Float32Array[] = [];
  for (const kind of KINDS) {
    for (const [name, values] of checkpoint.arrays[kind]) {
      entries.push({ kind, name, size: values.length });
      chunks.push(values);
    }
  }
  const header = Buffer.from(JSON.stringify({ version: 2, meta: checkpoint.meta, entries } satisfies Header<M>), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  const body = Buffer.concat([length, header, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]);
  const digest = createHash("sha256").update(body).digest();
  writeFileAtomic(path, Buffer.concat([MAGIC, digest, body]));
}

/** A one-line refusal naming the file, what is wrong with it and the way out. */
function unusable(path: string, what: string): SelectivError {
  return new SelectivError(`checkpoint ${path}: ${what}; it was not loaded (use --fresh to train this run from scratch)`);
}

/**
 * Reads a checkpoint; undefined if there is none. A foreign, truncated or damaged file is a one-line
 * SelectivError naming it: a checkpoint is either loaded exactly as written or not at all.
 */
export function readCheckpoint<M>(path: string): Checkpoint<M> | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  if (buf.length < BODY_START + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw unusable(path, "not a selectiv checkpoint of this version");
  }
  const body = buf.subarray(BODY_START);
  const headerLength = body.readUInt32LE(0);
  let header: Header<M> | undefined;
  try {
    header = JSON.parse(body.subarray(4, 4 + headerLength).toString("utf8")) as Header<M>;
  } catch {
    header = undefined;
  }
  const dataBytes = header?.entries?.reduce((a, e) => a + e.size * 4, 0);
  if (header === undefined || dataBytes === undefined || body.length < 4 + headerLength + dataBytes) {
    throw unusable(path, `truncated (${buf.length} bytes)`);
  }
  if (body.length !== 4 + headerLength + dataBytes) throw unusable(path, `${body.length - 4 - headerLength - dataBytes} bytes too long`);
  if (!createHash("sha256").update(body).digest().equals(buf.subarray(MAGIC.length, BODY_START))) {
    throw unusable(path, "damaged (its SHA-256 does not match its contents)");
  }
  const arrays: CheckpointArrays = { params: new Map(), m: new Map(), v: new Map() };
  let offset = 4 + headerLength;
  for (const e of header.entries) {
    const bytes = body.subarray(offset, offset + e.size * 4);
    // Copy into an aligned buffer: the slice of a Buffer need not be 4-byte aligned.
    arrays[e.kind].set(e.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    offset += e.size * 4;
  }
  return { meta: header.meta, arrays };
}
