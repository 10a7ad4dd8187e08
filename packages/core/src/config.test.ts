import { describe, expect, it } from "vitest";
import { parseFieldText, resolveConfig, type ConfigSchema } from "./config.js";
import { oneLineErrorOf } from "./testkit/checks.js";
import { Rng, hashSeed } from "./rng.js";

const schema: ConfigSchema = {
  size: { type: "int", min: 1, max: 10, description: "size" },
  rate: { type: "number", min: 0, max: 1, exclusiveMax: true, description: "rate" },
  mode: { type: "enum", values: ["a", "b"], description: "mode" },
  on: { type: "boolean", description: "switch" },
};
const defaults = { size: 2, rate: 0.5, mode: "a", on: true };

const errorOf = (f: () => unknown): string => oneLineErrorOf(f).message;

describe("config validation", () => {
  it("merges valid overrides", () => {
    expect(resolveConfig(schema, defaults, { size: 3, mode: "b" }, "x")).toEqual({ size: 3, rate: 0.5, mode: "b", on: true });
  });

  it("rejects unknown keys and bad values with one line naming field, value and what is allowed", () => {
    expect(errorOf(() => resolveConfig(schema, defaults, { sise: 3 }, "model gla"))).toBe(
      'model gla: unknown key "sise"; allowed: size, rate, mode, on',
    );
    expect(errorOf(() => resolveConfig(schema, defaults, { size: 11 }, "t"))).toBe("t.size: got 11; expected an integer in [1, 10]");
    expect(errorOf(() => resolveConfig(schema, defaults, { size: 2.5 }, "t"))).toBe("t.size: got 2.5; expected an integer in [1, 10]");
    expect(errorOf(() => resolveConfig(schema, defaults, { rate: 1 }, "t"))).toBe("t.rate: got 1; expected a number in [0, 1)");
    expect(errorOf(() => resolveConfig(schema, defaults, { mode: "c" }, "t"))).toBe('t.mode: got "c"; expected one of a, b');
    expect(errorOf(() => resolveConfig(schema, defaults, { on: "yes" }, "t"))).toBe('t.on: got "yes"; expected true or false');
    expect(errorOf(() => parseFieldText(schema.size!, "abc", "--set train.size"))).toBe(
      '--set train.size: got "abc"; expected an integer in [1, 10]',
    );
    for (const m of [errorOf(() => resolveConfig(schema, defaults, { size: null }, "t"))]) expect(m.includes("\n")).toBe(false);
  });

  it("refuses keys that are Object.prototype's members like any unknown key (they are not fields of the schema)", () => {
    for (const key of ["__proto__", "toString", "constructor", "hasOwnProperty", "valueOf"]) {
      // JSON.parse makes "__proto__" an own key, as a config file would.
      const overrides = JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, unknown>;
      expect(errorOf(() => resolveConfig(schema, defaults, overrides, "train"))).toBe(
        `train: unknown key ${JSON.stringify(key)}; allowed: size, rate, mode, on`,
      );
    }
  });
});

describe("seeded random numbers", () => {
  it("same seed, same stream; different seeds differ", () => {
    const a = new Rng(hashSeed(1, "x"));
    const b = new Rng(hashSeed(1, "x"));
    const c = new Rng(hashSeed(2, "x"));
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
  });

  it("is roughly uniform", () => {
    const r = new Rng(7);
    let sum = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) sum += r.next();
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005);
  });
});
