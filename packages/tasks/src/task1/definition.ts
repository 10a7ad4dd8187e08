import type { TaskDefinition } from "@selectiv/core";
import { MAX_LETTERS } from "../grammar/symbols.js";
import { PAPER_GRAMMAR, MEDIUM_GRAMMAR, QUICK_GRAMMAR, grammarTaskSchema, type GrammarTaskConfig } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";
import { PAPER_TASK1 } from "../grammar-task/paper-accuracy.js";

/** Task 1's config: the grammar-task knobs plus `complexity`, the one knob of the complexity sweep. */
export interface Task1Config extends GrammarTaskConfig {
  complexity: number;
}

/** docs/spec/TASKS.md §5, Task 1 (complexity): amb = depth in this list, alphabet amb + 1 (set with task1.complexity). */
export const TASK1_COMPLEXITY_SWEEP: readonly number[] = [20, 24, 26, 30, 34, 38, 40];
/** docs/spec/TASKS.md §5, Task 1 (size): model widths (the reference's feat_size) at amb = depth = 40 (set with train.width). */
export const TASK1_SIZE_SWEEP_WIDTHS: readonly number[] = [256, 384, 512, 648, 768, 960, 1024, 1152, 1296];

/**
 * The grammar knobs Task 1 runs with: `complexity` n > 0 sets amb = depth = n and alphabet n + 1 (the reference's
 * `--amb n --grammar_scale True`), replacing alphabetSize, ambiguities and ambiguityDepth; 0 keeps them.
 */
export function task1GrammarConfig(config: Task1Config): Task1Config {
  const n = config.complexity;
  return n === 0 ? config : { ...config, alphabetSize: n + 1, ambiguities: n, ambiguityDepth: n };
}

/** The paper's Task 1 (docs/spec/TASKS.md §5): amb = depth = 40, alphabet 41, one blank step after every symbol. */
const paper: Task1Config = {
  ...PAPER_GRAMMAR,
  complexity: 0,
  gapStart: 0,
  gapProb: 1,
  gapMin: 0.1,
  gapMax: 0.1,
  testGap: -1,
  noise: 0,
  distractors: false,
};

const { alphabetSize, ambiguities, ambiguityDepth, ...otherFields } = grammarTaskSchema;

export const task1Definition: TaskDefinition<Task1Config> = {
  id: "task1",
  suite: { position: 1, paperAccuracy: PAPER_TASK1 },
  description: "SelectivBench Task 1: track the hidden state of a random ambiguous grammar, one blank step after every symbol",
  schema: {
    alphabetSize,
    ambiguities,
    ambiguityDepth,
    complexity: {
      type: "int",
      min: 0,
      max: MAX_LETTERS,
      description: "complexity sweep: n > 0 sets ambiguities = ambiguityDepth = n and alphabetSize = n + 1; 0 = use those fields",
    },
    ...otherFields,
  },
  defaults: paper,
  presets: {
    paper,
    quick: { ...QUICK_GRAMMAR, combinedLength: 64 },
    medium: { ...MEDIUM_GRAMMAR, combinedLength: 64 },
    smoke: {
      alphabetSize: 4,
      ambiguities: 3,
      ambiguityDepth: 2,
      combinedLength: 24,
      trainSize: 64,
      testSize: 32,
    },
  },
  create: (config, seed) => createGrammarTask(task1GrammarConfig(config), seed),
};
