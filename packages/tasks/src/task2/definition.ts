import type { TaskDefinition } from "@selectiv/core";
import { PAPER_GRAMMAR, MEDIUM_GRAMMAR, QUICK_GRAMMAR, grammarTaskSchema, type GrammarTaskConfig } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";
import { PAPER_TASK2 } from "../grammar-task/paper-accuracy.js";

/**
 * The paper's Task 2 (docs/spec/TASKS.md §5): the Task-1 grammar (amb = depth = 40, alphabet 41); after every symbol a blank
 * gap of Uniform[0.1, 1.0] s (1..10 steps), noise 0.2 on every input entry; the test gap is fixed at 1.0 s (10 steps).
 * Task 4 evaluates Task-2 models with testGap set to 1, 2, 5 and 10 s.
 */
const paper: GrammarTaskConfig = {
  ...PAPER_GRAMMAR,
  gapStart: 0,
  gapProb: 1,
  gapMin: 0.1,
  gapMax: 1,
  testGap: 1,
  noise: 0.2,
  distractors: false,
};

export const task2Definition: TaskDefinition<GrammarTaskConfig> = {
  id: "task2",
  suite: { position: 2, paperAccuracy: PAPER_TASK2 },
  description: "SelectivBench Task 2: hold the hidden state through noisy blank gaps of variable length (test gap fixed at the longest)",
  schema: grammarTaskSchema,
  defaults: paper,
  presets: {
    paper,
    // The time axis grows with the gaps, so quick halves them (1..5 steps, test at the longest, 5) on short samples:
    // a symbol takes 4 steps on average in training and 6 in test, and a run costs about 1.4 quick Task-1 runs.
    quick: {
      ...QUICK_GRAMMAR,
      combinedLength: 40,
      gapMax: 0.5,
      testGap: 0.5,
    },
    medium: { ...MEDIUM_GRAMMAR, combinedLength: 40, gapMax: 0.5, testGap: 0.5 },
    smoke: {
      alphabetSize: 4,
      ambiguities: 3,
      ambiguityDepth: 2,
      combinedLength: 16,
      trainSize: 64,
      testSize: 32,
      gapMax: 0.3,
      testGap: 0.3,
    },
  },
  create: createGrammarTask,
};
