import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveConfig, type Config, type ConfigValue, type TaskDefinition } from "@selectiv/core";
import { oneLineErrorOf } from "@selectiv/core/testkit";
import { describe, expect, it } from "vitest";
import { asGrammarTask, summaryRng, type GrammarTaskInstance } from "../grammar-task/instance.js";
import { referenceDatasetDefinition } from "../reference-dataset/definition.js";
import { task1Definition } from "../task1/definition.js";
import { task3Definition } from "../task3/definition.js";
import { canonicalJson, datasetKey, defaultCacheDir, generateDataset } from "./cache.js";
import { sampleView } from "./sample-view.js";
import { grammarStatistics, meanGrammarStatistics } from "./stats.js";
import type { DatasetFormat, DatasetRequest } from "./write.js";

const FIXTURE = fileURLToPath(new URL("../../../../fixtures/reference-amb6-seed3", import.meta.url));
const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `selectiv-${prefix}-`));

function request(definition: TaskDefinition, overrides: Record<string, unknown> = {}, extra: Partial<DatasetRequest> = {}): DatasetRequest {
  const config = resolveConfig(definition.schema, definition.defaults, { ...definition.presets.smoke, ...overrides }, "task");
  const seed = extra.seed ?? 1;
  const instance = asGrammarTask(definition.create(config, seed))!;
  return { task: definition.id, config, seed, instance, splits: { train: 5, test: 3 }, format: "selectiv", ...extra };
}

/** Every file of a folder with its bytes. */
function contents(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "latin1")]));
}

describe("dataset cache key", () => {
  // A second valid value for every field of the smoke preset of task1 (the grammar-task schema plus complexity).
  const changed: Record<string, ConfigValue> = {
    alphabetSize: 5,
    ambiguities: 2,
    ambiguityDepth: 3,
    complexity: 3,
    initialStates: 3,
    transitionDensity: 0.5,
    minStringLength: 2,
    combinedLength: 25,
    seqLenMax: 150,
    trainSize: 65,
    testSize: 33,
    gapStart: 1,
    gapProb: 0.5,
    gapMin: 0.05,
    gapMax: 0.3,
    testGap: 0.5,
    noise: 0.1,
    distractors: true,
    mode: "prediction",
    klSteps: "all",
  };

  it("changes with every config field; the data identity with every field but the split sizes and the objective", () => {
    expect(Object.keys(changed).sort()).toEqual(Object.keys(task1Definition.schema).sort());
    const base = request(task1Definition);
    const keys = new Set([datasetKey(base)]);
    for (const [field, value] of Object.entries(changed)) {
      const other = request(task1Definition, { [field]: value });
      expect(other.config[field], field).not.toEqual(base.config[field]);
      keys.add(datasetKey(other));
      // The objective changes the targets a run trains on, not the samples written.
      const sameData = ["trainSize", "testSize", "mode", "klSteps"].includes(field);
      expect(canonicalJson(other.instance.identity) === canonicalJson(base.instance.identity), field).toBe(sameData);
    }
    expect(keys.size).toBe(Object.keys(changed).length + 1);
  });

  it("changes with the seed, the format, the task and the counts written; not with key order", () => {
    const base = request(task1Definition);
    const variants = [
      request(task1Definition, {}, { seed: 2 }),
      { ...base, format: "reference" as DatasetFormat },
      { ...base, task: "task2" },
      { ...base, splits: { train: 6, test: 3 } },
      { ...base, splits: { train: 5 } },
    ];
    const keys = new Set([datasetKey(base), ...variants.map(datasetKey)]);
    expect(keys.size).toBe(variants.length + 1);
    const reordered = { ...base, config: Object.fromEntries(Object.entries(base.config).reverse()) as Config };
    expect(datasetKey(reordered)).toBe(datasetKey(base));
  });

  it("covers the bytes of an imported dataset, not only its path", () => {
    const dir = tempDir("ref-key");
    cpSync(FIXTURE, dir, { recursive: true });
    const key = (): string => datasetKey(request(referenceDatasetDefinition, { path: dir }));
    const before = key();
    expect(key()).toBe(before);
    writeFileSync(join(dir, "test"), readFileSync(join(dir, "test"), "utf8").split("\n").slice(1).join("\n"));
    expect(key()).not.toBe(before);
  });
});

describe("generateDataset", () => {
  it("same request → byte-identical files, in both formats; the cache hands back the same bytes", () => {
    for (const format of ["selectiv", "reference"] as const) {
      const req = request(task3Definition, {}, { format, splits: { train: 40, test: 10 } });
      const a = generateDataset(req, tempDir("a"), undefined);
      const b = generateDataset(request(task3Definition, {}, { format, splits: { train: 40, test: 10 } }), tempDir("b"), undefined);
      expect(a.files).toEqual(
        format === "selectiv"
          ? ["grammar.json", "manifest.json", "selectiv-files.json", "test.jsonl", "train.jsonl"]
          : ["config.yaml", "selectiv-files.json", "test", "train", "transitions"],
      );
      expect(contents(b.out)).toEqual(contents(a.out));

      const cache = tempDir("cache");
      const first = generateDataset(req, tempDir("c"), cache);
      expect(first.reused).toBe(false);
      expect(first.cachePath).toBe(join(cache, "datasets", a.key));
      const entryTime = statSync(join(first.cachePath!, a.files[0]!)).mtimeMs;
      const second = generateDataset(req, tempDir("d"), cache);
      expect(second.reused).toBe(true);
      expect(statSync(join(second.cachePath!, a.files[0]!)).mtimeMs).toBe(entryTime);
      expect(contents(first.out)).toEqual(contents(a.out));
      expect(contents(second.out)).toEqual(contents(a.out));
      expect(readdirSync(join(cache, "datasets"))).toEqual([a.key]);
    }
  });

  it("selectiv format: one JSON line per sample with symbols, states, gaps and distractor tokens", () => {
    const req = request(task3Definition, {}, { splits: { test: 3 } });
    const out = generateDataset(req, tempDir("fmt"), undefined).out;
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ format: "selectiv-dataset", task: "task3", seed: 1, splits: { test: 3 } });
    const lines = readFileSync(join(out, "test.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    const set = req.instance.generator.generate("test", 0, 3);
    lines.forEach((line, n) => {
      expect(line.index).toBe(n);
      expect(line.states).toEqual(Array.from(set.classes.subarray(n * 24, (n + 1) * 24)));
      expect(line.gaps).toEqual(Array.from(set.gapSteps.subarray(n * 24, (n + 1) * 24)));
      expect(line.distractors).toHaveLength(line.gaps.reduce((a: number, b: number) => a + b, 0));
      expect(line.steps).toBe(24 + line.distractors.length);
    });
  });

  it("the cache folder: $SELECTIV_CACHE_DIR, else $XDG_CACHE_HOME/selectiv, else ~/.cache/selectiv", () => {
    expect(defaultCacheDir({ SELECTIV_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x" })).toBe("/c");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" })).toBe("/x/selectiv");
    expect(defaultCacheDir({})).toMatch(/\.cache\/selectiv$/);
  });
});

describe("generateDataset: the --out folder never mixes runs", () => {
  const small = (
    seed: number,
    format: DatasetFormat = "selectiv",
    splits: DatasetRequest["splits"] = { train: 6, test: 3 },
  ): DatasetRequest => request(task1Definition, {}, { seed, format, splits });

  it("refuses a non-empty folder that is not an earlier output, naming it, what it holds and --force", () => {
    const out = tempDir("foreign");
    writeFileSync(join(out, "notes.txt"), "mine\n");
    const e = oneLineErrorOf(() => generateDataset(small(1), out, undefined));
    expect(e.message).toMatch(/^--out: ".*foreign-.*" holds notes\.txt and is not an earlier output of data generate .*--force/);
    expect(readdirSync(out)).toEqual(["notes.txt"]);
    // An earlier output with a file added to it is not ours as a whole either.
    const own = generateDataset(small(1), tempDir("own"), undefined).out;
    writeFileSync(join(own, "extra"), "");
    expect(oneLineErrorOf(() => generateDataset(small(2), own, undefined)).message).toMatch(
      /holds extra, grammar\.json, manifest\.json, … \(6 entries\)/,
    );
  });

  it("re-generating into its own earlier output (another seed, format and splits) leaves no file of the earlier run", () => {
    const out = generateDataset(small(1), tempDir("regen"), undefined).out;
    const again = generateDataset(small(2, "reference", { train: 4 }), out, undefined);
    const fresh = generateDataset(small(2, "reference", { train: 4 }), tempDir("fresh"), undefined);
    expect(again.files).toEqual(["config.yaml", "selectiv-files.json", "train", "transitions"]);
    expect(contents(out)).toEqual(contents(fresh.out));
    // Through the cache as well: the second seed's entry is copied over the first seed's output.
    const cache = tempDir("regen-cache");
    generateDataset(small(1, "reference"), out, cache);
    generateDataset(small(2, "reference", { train: 4 }), out, cache);
    expect(contents(out)).toEqual(contents(fresh.out));
  });

  it("--force replaces a foreign folder's contents whole", () => {
    const out = tempDir("force");
    writeFileSync(join(out, "train"), "a previous seed's train\n");
    writeFileSync(join(out, "stale.txt"), "");
    const forced = generateDataset(small(3, "reference"), out, undefined, { force: true });
    expect(contents(out)).toEqual(contents(generateDataset(small(3, "reference"), tempDir("force-fresh"), undefined).out));
    expect(forced.files).not.toContain("stale.txt");
    // A cache inside the folder would be deleted with its contents.
    expect(oneLineErrorOf(() => generateDataset(small(3), out, join(out, "cache"))).message).toMatch(/^--cache: ".*" lies inside --out/);
  });
});

describe("generateDataset: a damaged cache entry is never copied out as valid", () => {
  const req = (): DatasetRequest => request(task1Definition, {}, { splits: { train: 64, test: 32 } });

  /** Damages the cache entry; the next request warns once, regenerates it and copies out good bytes. */
  function expectRegenerated(damage: (entry: string) => void, problem: RegExp): void {
    const cache = tempDir("damaged-cache");
    const first = generateDataset(req(), tempDir("damaged-a"), cache);
    const before = contents(first.cachePath!);
    damage(first.cachePath!);
    const warnings: string[] = [];
    const second = generateDataset(req(), tempDir("damaged-b"), cache, { warn: (line) => warnings.push(line) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^cache entry .*${first.key}: ${problem.source}; regenerating it$`));
    expect(second.reused).toBe(false);
    expect(contents(second.out)).toEqual(contents(first.out));
    expect(contents(first.cachePath!)).toEqual(before);
  }
  const editTrain = (edit: (text: string) => string) => (entry: string) =>
    writeFileSync(join(entry, "train.jsonl"), edit(readFileSync(join(entry, "train.jsonl"), "utf8")));

  it("a cut entry (21 of 64 lines) is regenerated", () => {
    expectRegenerated(
      editTrain((text) => `${text.split("\n").slice(0, 21).join("\n")}\n`),
      /train\.jsonl: 21 lines; expected 64/,
    );
  });

  it("an entry of the same length with altered bytes is regenerated", () => {
    expectRegenerated(
      editTrain((text) => text.replace('"index":5,', '"index":6,')),
      /train\.jsonl: sha256 [0-9a-f]{12}…; expected [0-9a-f]{12}…/,
    );
  });

  it("an entry without its listing is regenerated", () => {
    expectRegenerated((entry) => rmSync(join(entry, "selectiv-files.json")), /no valid selectiv-files\.json/);
  });
});

describe("sample view and grammar statistics", () => {
  it("a sample by name: symbols, states, gaps and the distractor tokens of each gap", () => {
    const { instance } = request(task3Definition);
    const view = sampleView(instance, "train", 2);
    const set = instance.generator.generate("train", 2, 1);
    expect(view.states).toEqual(Array.from(set.classes, (c) => instance.grammar.stateNames[c]));
    expect(view.symbols.join("")).toBe(view.states.map((s) => s[0]).join(""));
    expect(view.distractors.map((d) => d.length)).toEqual(view.gaps);
    expect(view.steps).toBe(24 + view.gaps.reduce((a, b) => a + b, 0));
    expect(() => sampleView(instance, "train", 64)).toThrow(/^--index: got 64; expected an integer in \[0, 63\]/);
  });

  it("match the task summary, and average over grammars", () => {
    const tasks = [1, 2].map((seed) => request(task1Definition, {}, { seed }).instance as GrammarTaskInstance);
    const stats = tasks.map((t, i) => grammarStatistics(t.grammar, t.generator.strings, summaryRng(i + 1), 300));
    tasks.forEach((t, i) => {
      expect(stats[i]).toMatchObject({
        states: t.summary.states,
        edges: t.summary.edges,
        edgesToEnd: t.summary.edgesToEnd,
        te: t.summary.te,
      });
      expect(stats[i]!.meanStringLength).toBe(t.summary.meanStringLength);
      const { histogram, min, max, strings } = stats[i]!.stringLengths;
      expect(histogram.reduce((a, b) => a + b.count, 0)).toBe(strings);
      expect([histogram[0]!.from, histogram.at(-1)!.to]).toEqual([min, max]);
    });
    const mean = meanGrammarStatistics(stats);
    expect(mean.grammars).toBe(2);
    expect(mean.edges).toBe((stats[0]!.edges + stats[1]!.edges) / 2);
    expect(mean.te).toBeCloseTo((stats[0]!.te + stats[1]!.te) / 2, 12);
  });
});
