import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Config, Split } from "@selectiv/core";
import type { Grammar } from "../grammar/grammar.js";
import { formatTransitions } from "../grammar/transitions-format.js";
import type { DataIdentity, GrammarTaskInstance } from "../grammar-task/instance.js";
import { REFERENCE_FILES } from "../reference-dataset/read.js";
import type { SampleSet } from "../samples/generator.js";

export const DATASET_FORMATS = ["selectiv", "reference"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/**
 * Bumped whenever the bytes written for the same request change, so older cache entries are not reused. 2: the
 * listing file (selectiv-files.json) and config.yaml's dataset_size_train/test.
 */
export const DATASET_FORMAT_VERSION = 2;

/** What a dataset on disk holds: a task's samples 0 .. n-1 of each listed split, in one format. */
export interface DatasetRequest {
  readonly task: string;
  /** The resolved task config (recorded in the manifest). */
  readonly config: Config;
  readonly seed: number;
  readonly instance: GrammarTaskInstance;
  /** Samples to write per split (samples 0 .. n-1). */
  readonly splits: Readonly<Partial<Record<Split, number>>>;
  readonly format: DatasetFormat;
}

/** The file holding a split's samples, one line each. */
export function splitFileName(format: DatasetFormat, split: Split): string {
  return format === "reference" ? REFERENCE_FILES[split] : `${split}.jsonl`;
}

/** Samples are generated and written this many at a time. */
const CHUNK = 1000;

/** Appends the lines of samples 0 .. count-1 of `split` to `path`, CHUNK samples at a time. */
function writeSamples(
  path: string,
  instance: GrammarTaskInstance,
  split: Split,
  count: number,
  line: (set: SampleSet, n: number) => string,
): void {
  const fd = openSync(path, "w");
  try {
    for (let start = 0; start < count; start += CHUNK) {
      const set = instance.generator.generate(split, start, Math.min(CHUNK, count - start));
      let text = "";
      for (let n = 0; n < set.count; n++) text += line(set, n);
      writeSync(fd, text);
    }
  } finally {
    closeSync(fd);
  }
}

/** The requested splits with their sample counts, train first. */
export function requestedSplits(request: Pick<DatasetRequest, "splits">): [Split, number][] {
  return (["train", "test"] as const).flatMap((split) => {
    const count = request.splits[split];
    return count === undefined ? [] : [[split, count] as [Split, number]];
  });
}

/** Writes the file of every requested split; returns their names. */
function writeSplits(dir: string, request: DatasetRequest, line: (set: SampleSet, n: number) => string): string[] {
  return requestedSplits(request).map(([split, count]) => {
    const name = splitFileName(request.format, split);
    writeSamples(join(dir, name), request.instance, split, count, line);
    return name;
  });
}

/** One sample in the reference format: `[symbol ids]::['state names']::LENGTH` (docs/spec/TASKS.md §6, as Python prints lists). */
export function referenceSampleLine(grammar: Grammar, set: SampleSet, n: number): string {
  const L = set.length;
  const classes = set.classes.subarray(n * L, (n + 1) * L);
  const symbols = Array.from(set.symbols.subarray(n * L, (n + 1) * L)).join(", ");
  const states = Array.from(classes, (c) => `'${grammar.stateNames[c]}'`).join(", ");
  return `[${symbols}]::[${states}]::${L}\n`;
}

/** YAML text of flat scalars and one flow list (selectiv writes no other YAML); strings are JSON-quoted. */
function yamlScalar(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * The reference's folder (docs/spec/TASKS.md §6): `transitions`, `config.yaml`, `train`/`test`. Gaps, distractors and noise are
 * not stored (the reference draws them when reading). config.yaml records how the data was made and the start
 * states, which the transitions file cannot hold (selectiv's importer reads `start_states` back).
 */
function writeReferenceFormat(dir: string, request: DatasetRequest): string[] {
  const { instance, task, seed, config } = request;
  const grammar = instance.grammar;
  writeFileSync(join(dir, REFERENCE_FILES.transitions), formatTransitions(grammar));
  const yaml = [
    "# Written by selectiv; the reference reads only transitions, train and test.",
    `generator: selectiv`,
    `task: ${yamlScalar(task)}`,
    `seed: ${seed}`,
    `alphabet_size: ${grammar.alphabetSize}`,
    `start_states: [${grammar.startStateNames.join(", ")}]`,
    // The reference's keys for the sample counts; the importer checks the train/test files against them.
    ...requestedSplits(request).map(([split, count]) => `dataset_size_${split}: ${count}`),
    "config:",
    ...Object.entries(config).map(([k, v]) => `  ${k}: ${yamlScalar(v)}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, REFERENCE_FILES.config), yaml);
  const samples = writeSplits(dir, request, (set, n) => referenceSampleLine(grammar, set, n));
  return [REFERENCE_FILES.transitions, REFERENCE_FILES.config, ...samples];
}

/** One sample of the selectiv format: class ids, symbol ids, gap steps after each symbol, distractor tokens in time order. */
export function selectivSampleLine(set: SampleSet, n: number): string {
  const L = set.length;
  const record = {
    index: set.start + n,
    steps: set.steps[n]!,
    symbols: Array.from(set.symbols.subarray(n * L, (n + 1) * L)),
    states: Array.from(set.classes.subarray(n * L, (n + 1) * L)),
    gaps: Array.from(set.gapSteps.subarray(n * L, (n + 1) * L)),
    distractors: Array.from(set.distractorTokens.subarray(set.distractorOffsets[n]!, set.distractorOffsets[n + 1]!)),
  };
  return `${JSON.stringify(record)}\n`;
}

/** The grammar as JSON: state names (index = class id), their symbol ids, start states and edges with probabilities. */
export function grammarJson(grammar: Grammar): object {
  return {
    alphabetSize: grammar.alphabetSize,
    states: grammar.stateNames,
    stateSymbols: Array.from(grammar.stateSymbols),
    startStates: grammar.startStateNames,
    edges: grammar.edges().map((e) => [e.source, e.target, e.probability]),
  };
}

/**
 * The selectiv folder: `manifest.json` (task, seed, config, identity, counts, how inputs are formed), `grammar.json`,
 * and `train.jsonl`/`test.jsonl` with one sample per line. Everything but the noise is stored; the noise is
 * Uniform[0, 1) · noise drawn from (seed, split, index) as the manifest says, so a reader can rebuild the inputs.
 */
function writeSelectivFormat(dir: string, request: DatasetRequest, key: string): string[] {
  const { instance, task, seed, config, splits } = request;
  const manifest = {
    format: "selectiv-dataset",
    version: DATASET_FORMAT_VERSION,
    key,
    task,
    seed,
    splits,
    config,
    identity: instance.identity as DataIdentity,
    summary: instance.summary,
    inputs:
      "step t of a sample: the one-hot of its symbol (symbol steps), of its distractor token (distractor gaps) or zeros (blank gaps); " +
      "then Uniform[0, 1) * identity.noise added to every entry, drawn by Rng.from('selectiv.sample', seed, split, index, 'noise') in (step, channel) order",
    targets: "the class id (index into grammar.json states) of each symbol, held through the gap after it",
  };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, "grammar.json"), `${JSON.stringify(grammarJson(instance.grammar))}\n`);
  return ["manifest.json", "grammar.json", ...writeSplits(dir, request, selectivSampleLine)];
}

/** Writes the dataset into `dir` (created if missing); returns the file names written. `key` is recorded in selectiv manifests. */
export function writeDataset(dir: string, request: DatasetRequest, key: string): string[] {
  mkdirSync(dir, { recursive: true });
  return request.format === "reference" ? writeReferenceFormat(dir, request) : writeSelectivFormat(dir, request, key);
}
