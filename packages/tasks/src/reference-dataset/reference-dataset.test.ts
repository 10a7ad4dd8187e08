import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isSelectivError, majorityClassOf, resolveConfig } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { parseTransitions } from "../grammar/transitions-format.js";
import { generateDataset } from "../dataset/cache.js";
import type { GrammarTaskInstance } from "../grammar-task/instance.js";
import { parseReferenceSamples } from "../samples/reference-format.js";
import { task2Definition } from "../task2/definition.js";
import { referenceDatasetDefinition, type ReferenceDatasetConfig } from "./definition.js";
import { readReferenceDataset } from "./read.js";

const FIXTURE = fileURLToPath(new URL("../../../../fixtures/reference-amb6-seed3", import.meta.url));

const config = (overrides: Record<string, unknown>, preset: "smoke" | "quick" | "paper" = "paper"): ReferenceDatasetConfig =>
  resolveConfig(
    referenceDatasetDefinition.schema,
    referenceDatasetDefinition.defaults,
    { ...referenceDatasetDefinition.presets[preset], ...overrides },
    "task",
  );

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

/** A copy of the fixture whose file `name` has line `line` (1-based) replaced, or holds only `lines`. */
function corrupted(name: string, line: number, text: string): string;
function corrupted(name: string, lines: string[]): string;
function corrupted(name: string, where: number | string[], text = ""): string {
  const dir = mkdtempSync(join(tmpdir(), "selectiv-ref-"));
  cpSync(FIXTURE, dir, { recursive: true });
  let lines = readFileSync(join(dir, name), "utf8").split("\n");
  if (typeof where === "number") lines[where - 1] = text;
  else lines = where;
  writeFileSync(join(dir, name), lines.join("\n"));
  return dir;
}

/** Task 2's smoke samples (seed 4) exported in the reference format into a new folder. */
function exportTask2(splits: { train: number; test: number }): { source: GrammarTaskInstance; out: string } {
  const source = task2Definition.create(
    resolveConfig(task2Definition.schema, task2Definition.defaults, task2Definition.presets.smoke, "task"),
    4,
  ) as GrammarTaskInstance;
  const out = mkdtempSync(join(tmpdir(), "selectiv-export-"));
  generateDataset({ task: "task2", config: {}, seed: 4, instance: source, splits, format: "reference" }, out, undefined);
  return { source, out };
}

describe("reference-dataset: import of the reference's on-disk format (docs/spec/TASKS.md §6)", () => {
  const task = referenceDatasetDefinition.create(config({ path: FIXTURE }), 1) as GrammarTaskInstance;

  it("reproduces the grammar: states, edges, probabilities, and the start states of the README", () => {
    const edges = parseTransitions(readFileSync(join(FIXTURE, "transitions"), "utf8"));
    const { grammar } = task;
    expect(grammar.numStates).toBe(37);
    expect(grammar.alphabetSize).toBe(7);
    expect(task.inputSize).toBe(7);
    expect(task.numClasses).toBe(37);
    const ours = new Map(grammar.edges().map((e) => [`${e.source} ${e.target}`, e.probability]));
    expect(ours.size).toBe(edges.length);
    for (const e of edges) expect(ours.get(`${e.source} ${e.target}`)).toBeCloseTo(e.probability, 12);
    expect([...grammar.startStateNames].sort()).toEqual(["A1", "C3", "D5", "E1"]);
    expect(task.summary.startStatesFrom).toBe("samples");
  });

  it("serves every line as sample i of its split: symbols and hidden states exactly, gaps by our rules", () => {
    for (const [split, count] of [
      ["train", 40],
      ["test", 10],
    ] as const) {
      const lines = parseReferenceSamples(readFileSync(join(FIXTURE, split), "utf8"));
      expect(task.splitSize(split)).toBe(count);
      const set = task.generator.generate(split, 0, count);
      lines.forEach((line, i) => {
        expect(Array.from(set.symbols.subarray(i * 200, (i + 1) * 200))).toEqual(line.symbols);
        expect(Array.from(set.classes.subarray(i * 200, (i + 1) * 200), (c) => task.grammar.stateNames[c])).toEqual(line.states);
      });
      // The paper preset's time axis (Task 1): one blank step after every symbol.
      const batch = task.batch(split, 0, count);
      expect(batch.steps).toBe(400);
      expect(Array.from(batch.symbolTargets.subarray(0, 200), (c) => task.grammar.stateNames[c])).toEqual(lines[0]!.states);
    }
  });

  it("has a ceiling from its transitions file (docs/spec/TASKS.md §4.1), above the majority baseline", () => {
    const majority = majorityClassOf(task, 100);
    const targets = task.batch("test", 0, 10).symbolTargets;
    const baseline = targets.filter((c) => c === majority).length / targets.length;
    const ceiling = task.ceiling("test");
    expect(ceiling).toBeGreaterThan(baseline);
    expect(ceiling).toBeLessThanOrEqual(1);
  });

  it("draws gaps and noise per (seed, split, index): Task 2's time axis on the imported strings", () => {
    const { gapMin, gapMax, testGap, noise } = resolveConfig(task2Definition.schema, task2Definition.defaults, {}, "task");
    const noisy = referenceDatasetDefinition.create(config({ path: FIXTURE, gapMin, gapMax, testGap, noise }), 5) as GrammarTaskInstance;
    const one = noisy.batch("train", 3, 1);
    const inBatch = noisy.batch("train", 2, 4);
    expect(
      Array.from(inBatch.inputs.subarray(inBatch.steps * inBatch.inputSize, inBatch.steps * inBatch.inputSize + one.inputs.length)),
    ).toEqual(Array.from(one.inputs));
    expect(noisy.batch("test", 0, 1).steps).toBe(200 * 11);
    const other = referenceDatasetDefinition.create(config({ path: FIXTURE, gapMin, gapMax, testGap, noise }), 6) as GrammarTaskInstance;
    expect(other.batch("train", 3, 1).symbolTargets).toEqual(one.symbolTargets);
    expect(other.batch("train", 3, 1).inputs).not.toEqual(one.inputs);
    expect(noisy.identity.grammar).toEqual({ files: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it("exports back to the reference format: train and test byte for byte, the same edges", () => {
    const out = mkdtempSync(join(tmpdir(), "selectiv-reexport-"));
    const request = {
      task: "reference-dataset",
      config: {},
      seed: 1,
      instance: task,
      splits: { train: 40, test: 10 },
      format: "reference" as const,
    };
    generateDataset(request, out, undefined);
    for (const file of ["train", "test"]) expect(readFileSync(join(out, file), "utf8")).toBe(readFileSync(join(FIXTURE, file), "utf8"));
    const edgeSet = (dir: string): string[] =>
      parseTransitions(readFileSync(join(dir, "transitions"), "utf8"))
        .map((e) => `${e.source} ${e.target} ${e.probability}`)
        .sort();
    expect(edgeSet(out)).toEqual(edgeSet(FIXTURE));
  });

  it("caps the split sizes at trainSize/testSize (0 = every line); the summary records the counts used and found", () => {
    const smoke = referenceDatasetDefinition.create(config({ path: FIXTURE, trainSize: 16, testSize: 0 }, "smoke"), 1);
    expect(smoke.splitSize("train")).toBe(16);
    expect(smoke.splitSize("test")).toBe(10);
    // The fixture's config.yaml ({}) declares no counts: they are the files', and trainSize 64 uses the 40 there.
    const capped = referenceDatasetDefinition.create(config({ path: FIXTURE }, "smoke"), 1);
    expect(capped.splitSize("train")).toBe(40);
    expect(capped.summary).toMatchObject({
      trainSamples: 40,
      testSamples: 10,
      trainLines: 40,
      testLines: 10,
      countsFrom: "train file, test file",
    });
  });

  it("a file cut at a line boundary, against the counts config.yaml declares, is one line naming the file and both counts", () => {
    const { out } = exportTask2({ train: 64, test: 8 });
    const whole = referenceDatasetDefinition.create(config({ path: out }, "smoke"), 1);
    expect(whole.summary).toMatchObject({ trainSamples: 64, trainLines: 64, countsFrom: "train config.yaml, test config.yaml" });
    const lines = readFileSync(join(out, "train"), "utf8").split("\n");
    writeFileSync(join(out, "train"), `${lines.slice(0, 20).join("\n")}\n`);
    const e = thrown(() => referenceDatasetDefinition.create(config({ path: out }, "smoke"), 1));
    expect(isSelectivError(e)).toBe(true);
    expect(e.message).toMatch(/^\/.*\/train: 20 samples; expected 64 \(dataset_size_train in \/.*\/config\.yaml\); restore the file/);
    expect(e.message).not.toContain("\n");
  });

  it("round-trips an export: a generated task written in the reference format imports to the same grammar and samples", () => {
    const { source, out } = exportTask2({ train: 6, test: 3 });
    const dataset = readReferenceDataset(out);
    expect(dataset.startStatesFrom).toBe("config.yaml");
    expect(dataset.grammar.stateNames).toEqual(source.grammar.stateNames);
    expect(dataset.grammar.startStateNames).toEqual(source.grammar.startStateNames);
    expect(dataset.grammar.edges()).toEqual(source.grammar.edges());
    expect(dataset.splits.train.classes).toEqual(source.generator.generate("train", 0, 6).classes);
    expect(dataset.splits.test.classes).toEqual(source.generator.generate("test", 0, 3).classes);
  });

  it("rejects bad input with one-line errors naming the file and line", () => {
    const cases: [() => unknown, RegExp][] = [
      [() => referenceDatasetDefinition.create(config({ path: "" }), 1), /^reference-dataset\.path: empty; expected the folder/],
      [() => readReferenceDataset(join(FIXTURE, "no-such-folder")), /^reference dataset: got ".*no-such-folder"; expected a folder/],
      [() => readReferenceDataset(corrupted("train", 7, "[1, 0]::['A1', '#']")), /train line 7: got .*three parts/],
      [
        () => readReferenceDataset(corrupted("train", ["[1, 2]::['A1', 'B5']::2", "", "[1, 2]::['A1', 'B0']::2"])),
        /train line 3: A1 -> B0 at position 1 is not an edge of .*transitions$/,
      ],
      [
        () => readReferenceDataset(corrupted("train", ["[1, 2]::['A1', 'B5']::2", "[1, 1]::['A1', 'B5']::2"])),
        /train line 2: symbol id 1 at position 1; expected 2, the symbol of state "B5"/,
      ],
      [
        () => readReferenceDataset(corrupted("train", ["[1, 2]::['A1', 'Q5']::2"])),
        /train line 1: state "Q5" at position 1 is not a state of/,
      ],
      [
        () => readReferenceDataset(corrupted("train", 1, "[1, 2]::['A1', 'B5']::2")),
        /train line 2: LENGTH 200; expected 2 like the samples before it/,
      ],
      [
        () => readReferenceDataset(corrupted("transitions", 4, "E0 B3 0.25")),
        /transitions line 4: got "E0 B3 0.25"; expected "SRC, DST, PROB"/,
      ],
      [
        () => readReferenceDataset(corrupted("config.yaml", ["dataset_size_test: 1e3"])),
        /config\.yaml: dataset_size_test: got "1e3"; expected a whole number of samples/,
      ],
      [
        () => referenceDatasetDefinition.create(config({ path: FIXTURE, seqLenMax: 20 }), 1),
        /^reference-dataset\.seqLenMax: got 20, but .* holds a string of \d+ symbols/,
      ],
    ];
    for (const [f, message] of cases) {
      const e = thrown(f);
      expect(isSelectivError(e), e.message).toBe(true);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain("\n");
    }
  });
});
