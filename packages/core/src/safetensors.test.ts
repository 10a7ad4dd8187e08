// The safetensors reader and writer against files written by Python's `safetensors` (fixtures/safetensors/), and
// every way a file can be malformed: each is one line naming the file and the problem.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { isSelectivError } from "./errors.js";
import { type Float32Tensor, decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from "./safetensors.js";

const fixtures = resolve(import.meta.dirname, "../../../fixtures/safetensors");

/** The bytes of a file with `header` as its JSON header and `data` after it. */
function fileWith(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isSelectivError(e), String(e)).toBe(true);
    const message = (e as Error).message;
    expect(message.split("\n")).toHaveLength(1);
    return message;
  }
  throw new Error("expected an error");
}

describe("safetensors", () => {
  it("reads a file written by Python's safetensors: names, shapes, values and metadata", () => {
    const { tensors, metadata } = readSafetensors(join(fixtures, "python-f32.safetensors"));
    expect(metadata).toEqual({ format: "pt", note: "made by safetensors.numpy.save_file" });
    expect([...tensors.keys()].sort()).toEqual(["empty", "layer.bias", "layer.weight", "scale"]);
    expect(tensors.get("layer.weight")!.shape).toEqual([2, 3]);
    expect([...tensors.get("layer.weight")!.data]).toEqual([-0.625, -0.375, -0.125, 0.125, 0.375, 0.625]);
    const bias = tensors.get("layer.bias")!;
    expect(bias.shape).toEqual([5]);
    expect([...bias.data]).toEqual([1.5, -0, Math.fround(3.25e-8), 65504, -7]);
    expect(Object.is(bias.data[1], -0)).toBe(true);
    expect(tensors.get("scale")!.shape).toEqual([]);
    expect(tensors.get("scale")!.data[0]).toBe(Math.fround(0.1));
    expect(tensors.get("empty")!.shape).toEqual([0, 3]);
    expect(tensors.get("empty")!.data.length).toBe(0);
  });

  it("writes the same bytes as Python's writer for the same tensors and metadata", () => {
    const bytes = readFileSync(join(fixtures, "python-f32.safetensors"));
    const { tensors, metadata } = decodeSafetensors(bytes, "python-f32.safetensors");
    expect(Buffer.from(encodeSafetensors(tensors, metadata)).equals(bytes)).toBe(true);
  });

  it("round-trips through a file: shapes, every bit of the values, metadata", () => {
    const awkward = Float32Array.from([NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38, Math.fround(1 / 3)]);
    const tensors = new Map<string, Float32Tensor>([
      ["b", { shape: [7], data: awkward }],
      ["a.weight", { shape: [3, 1, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
    ]);
    const path = join(mkdtempSync(join(tmpdir(), "selectiv-st-")), "w.safetensors");
    writeSafetensors(path, tensors, { "selectiv.model": "gla", json: '{"a":[1,2]}' });
    const bytes = readFileSync(path);
    // The data starts 8-byte aligned: the header is padded with spaces.
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const back = readSafetensors(path);
    expect(back.metadata).toEqual({ "selectiv.model": "gla", json: '{"a":[1,2]}' });
    expect([...back.tensors.keys()]).toEqual(["a.weight", "b"]);
    expect(back.tensors.get("a.weight")!.shape).toEqual([3, 1, 2]);
    expect(new Uint8Array(back.tensors.get("b")!.data.buffer)).toEqual(new Uint8Array(awkward.buffer));
  });

  it("refuses another dtype with one line naming the tensor and the dtype", () => {
    const message = errorOf(() => readSafetensors(join(fixtures, "python-f64.safetensors")));
    expect(message).toMatch(/python-f64\.safetensors: tensor weight has dtype F64; selectiv reads F32 only/);
  });

  it("refuses what is not a safetensors file", () => {
    expect(errorOf(() => decodeSafetensors(new Uint8Array(5), "x"))).toMatch(/^x: not a safetensors file \(5 bytes/);
    expect(errorOf(() => decodeSafetensors(Buffer.from("checkpoint data, not safetensors"), "x"))).toMatch(/header length .* outside/);
    expect(errorOf(() => decodeSafetensors(fileWith({}, new Uint8Array(0), 10n ** 12n), "x"))).toMatch(
      /header length 1000000000000 outside/,
    );
    const notJson = fileWith({});
    notJson[8] = 0x5b; // "[}"
    expect(errorOf(() => decodeSafetensors(notJson, "x"))).toMatch(/its header is not JSON/);
    expect(errorOf(() => decodeSafetensors(fileWith([1, 2]), "x"))).toMatch(/not a JSON object/);
    expect(errorOf(() => readSafetensors("/nonexistent/w.safetensors"))).toMatch(/cannot read it \(ENOENT\)/);
  });

  it("checks offsets, sizes, shapes and metadata", () => {
    const data = new Uint8Array(16);
    const f32 = (shape: unknown, offsets: unknown) => ({ dtype: "F32", shape, data_offsets: offsets });
    const cases: [unknown, RegExp][] = [
      [{ t: f32([2], [0, 8]), u: f32([2], [4, 12]) }, /tensor u: data_offsets \[4, 12\] overlap/],
      [{ t: f32([2], [8, 16]) }, /tensor t: a gap of 8 bytes/],
      [{ t: f32([2], [0, 8]) }, /8 data bytes after the last tensor/],
      [{ t: f32([4], [0, 20]) }, /tensor t: data_offsets \[0, 20\] outside the 16 data bytes/],
      [{ t: f32([3], [0, 16]) }, /tensor t: shape \[3\] of F32 needs 12 bytes, its data_offsets give 16/],
      [{ t: f32([2, -2], [0, 16]) }, /tensor t: shape \[2,-2\] is not a list/],
      [{ t: f32([4], [16, 0]) }, /tensor t: data_offsets \[16, 0\] outside/],
      [{ t: f32([4], "0-16") }, /tensor t: data_offsets "0-16" is not \[begin, end\]/],
      [{ t: { dtype: "F128", shape: [4], data_offsets: [0, 16] } }, /tensor t: unknown dtype "F128"; safetensors dtypes are BOOL/],
      [{ __metadata__: { n: 3 }, t: f32([4], [0, 16]) }, /__metadata__\.n is 3; metadata values must be strings/],
      [{ __metadata__: [], t: f32([4], [0, 16]) }, /__metadata__ is not an object of strings/],
    ];
    for (const [header, expected] of cases)
      expect(errorOf(() => decodeSafetensors(fileWith(header, data), "f.safetensors"))).toMatch(expected);
  });
});
