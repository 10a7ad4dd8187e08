// A checkpoint loads exactly as written or not at all: every kind of damage is one line naming the file and --fresh.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Checkpoint, readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { isSelectivError } from "./errors.js";

type Meta = { step: number; settings: string };

function sample(): Checkpoint<Meta> {
  const values = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  return {
    meta: { step: 320, settings: '["task1"]' },
    arrays: {
      params: new Map([
        ["encoder.weight", values(300, (i) => Math.sin(i))],
        ["decoder.bias", values(7, (i) => i / 3)],
      ]),
      m: new Map([["encoder.weight", values(300, (i) => i * 1e-3)]]),
      v: new Map([["encoder.weight", values(300, (i) => i * 1e-6)]]),
    },
  };
}

function written(): string {
  const path = join(mkdtempSync(join(tmpdir(), "selectiv-ckpt-")), "checkpoint.bin");
  writeCheckpoint(path, sample());
  return path;
}

function refusal(path: string): string {
  try {
    readCheckpoint(path);
  } catch (e) {
    expect(isSelectivError(e)).toBe(true);
    const message = (e as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toContain(path);
    expect(message).toContain("--fresh");
    return message;
  }
  throw new Error("the damaged checkpoint loaded");
}

describe("checkpoint file", () => {
  it("round-trips meta and every array bit for bit; a missing file is undefined", () => {
    const path = written();
    const back = readCheckpoint<Meta>(path)!;
    expect(back.meta).toEqual(sample().meta);
    for (const kind of ["params", "m", "v"] as const) {
      expect([...back.arrays[kind].keys()]).toEqual([...sample().arrays[kind].keys()]);
      for (const [name, values] of sample().arrays[kind]) expect(back.arrays[kind].get(name)).toEqual(values);
    }
    expect(readCheckpoint(join(path, "..", "absent.bin"))).toBeUndefined();
  });

  it("refuses floats whose sign was flipped (200 of them)", () => {
    const path = written();
    const buf = readFileSync(path);
    for (let i = 0; i < 200; i++) buf[buf.length - 4 * (i + 1) + 3]! ^= 0x80;
    writeFileSync(path, buf);
    expect(refusal(path)).toMatch(/damaged/);
  });

  it("refuses an edited header field (the step)", () => {
    const path = written();
    const text = readFileSync(path).toString("latin1").replace('"step":320', '"step":720');
    writeFileSync(path, Buffer.from(text, "latin1"));
    expect(refusal(path)).toMatch(/damaged/);
  });

  it("refuses a truncated file, cut in the data or in the header", () => {
    for (const keep of [0.9, 0.02]) {
      const path = written();
      const buf = readFileSync(path);
      writeFileSync(path, buf.subarray(0, Math.floor(buf.length * keep)));
      expect(refusal(path)).toMatch(/truncated|not a selectiv checkpoint/);
    }
  });

  it("refuses a file with bytes appended", () => {
    const path = written();
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(8)]));
    expect(refusal(path)).toMatch(/too long/);
  });

  it("refuses a foreign file and an empty one", () => {
    const path = written();
    writeFileSync(path, "PK\u0003\u0004 some zip archive, not a checkpoint at all");
    expect(refusal(path)).toMatch(/not a selectiv checkpoint/);
    writeFileSync(path, "");
    expect(refusal(path)).toMatch(/not a selectiv checkpoint/);
  });
});
