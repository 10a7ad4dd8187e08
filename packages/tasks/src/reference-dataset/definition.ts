import { resolve } from "node:path";
import { SelectivError, type TaskDefinition } from "@selectiv/core";
import { OBJECTIVE_DEFAULTS, objectiveSchema, timeAxisSchema, type ObjectiveConfig, type TimeAxisConfig } from "../grammar-task/config.js";
import { GrammarTaskInstance, grammarSampleGenerator } from "../grammar-task/instance.js";
import { readReferenceDataset } from "./read.js";

/** A dataset written by the Python reference, served with our time axis (docs/spec/TASKS.md §6, §7). */
export interface ReferenceDatasetConfig extends TimeAxisConfig, ObjectiveConfig {
  path: string;
  trainSize: number;
  testSize: number;
  seqLenMax: number;
}

/** Task 1's time axis (one blank step after every symbol, no noise), the reference's default for these files. */
const paper: ReferenceDatasetConfig = {
  path: "",
  trainSize: 0,
  testSize: 0,
  seqLenMax: 200,
  gapStart: 0,
  gapProb: 1,
  gapMin: 0.1,
  gapMax: 0.1,
  testGap: -1,
  noise: 0,
  distractors: false,
  ...OBJECTIVE_DEFAULTS,
};

/**
 * Reads the folder at `config.path` and serves line i of its train/test file as sample i. The files hold no gaps or
 * noise: like the reference, these are drawn when a sample is read, here from (seed, split, index) (docs/spec/TASKS.md §7).
 */
export function createReferenceDatasetTask(config: ReferenceDatasetConfig, seed: number): GrammarTaskInstance {
  if (config.path === "") {
    throw new SelectivError(
      "reference-dataset.path: empty; expected the folder of a reference dataset (set it with --set reference-dataset.path=DIR)",
    );
  }
  const dir = resolve(config.path);
  const dataset = readReferenceDataset(dir);
  if (dataset.longestString > config.seqLenMax) {
    throw new SelectivError(
      `reference-dataset.seqLenMax: got ${config.seqLenMax}, but ${dir} holds a string of ${dataset.longestString} symbols; expected at least ${dataset.longestString}`,
    );
  }
  // trainSize/testSize cap the samples used; the counts actually used and those in the files go into the summary
  // (and so into the run's config.json), with where the file counts were checked (config.yaml) or taken from.
  const size = (asked: number, available: number): number => (asked === 0 ? available : Math.min(asked, available));
  const sizes = { train: size(config.trainSize, dataset.splits.train.count), test: size(config.testSize, dataset.splits.test.count) };
  const counted = (["train", "test"] as const).map((split) => `${split} ${split in dataset.declaredCounts ? "config.yaml" : "file"}`);
  const { generator, identity } = grammarSampleGenerator(
    dataset.grammar,
    { files: dataset.digest },
    seed,
    { combinedLength: dataset.length, seqLenMax: config.seqLenMax },
    config,
    { train: dataset.splits.train.classes, test: dataset.splits.test.classes },
  );
  return new GrammarTaskInstance(
    dataset.grammar,
    generator,
    sizes,
    identity,
    {
      datasetDigest: dataset.digest.slice(0, 16),
      startStatesFrom: dataset.startStatesFrom,
      trainSamples: sizes.train,
      testSamples: sizes.test,
      trainLines: dataset.splits.train.count,
      testLines: dataset.splits.test.count,
      countsFrom: counted.join(", "),
    },
    config,
  );
}

export const referenceDatasetDefinition: TaskDefinition<ReferenceDatasetConfig> = {
  id: "reference-dataset",
  description: "A dataset written by the Python reference (transitions, train, test): its grammar and samples, our gaps and noise",
  schema: {
    path: { type: "string", description: "folder holding the reference's transitions, train and test files (docs/spec/TASKS.md §6)" },
    trainSize: { type: "int", min: 0, description: "training samples: the first N lines of train; 0 = all" },
    testSize: { type: "int", min: 0, description: "test samples: the first N lines of test; 0 = all" },
    seqLenMax: {
      type: "int",
      min: 2,
      max: 60_000,
      description: "longest string the reference kept (its seqlen_max); checked against the files, used for the summary",
    },
    ...timeAxisSchema,
    ...objectiveSchema,
  },
  defaults: paper,
  presets: {
    paper,
    quick: { trainSize: 4_800, testSize: 500 },
    smoke: { trainSize: 64, testSize: 32 },
  },
  create: createReferenceDatasetTask,
};
