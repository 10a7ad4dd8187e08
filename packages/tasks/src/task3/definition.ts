import type { TaskDefinition } from "@selectiv/core";
import { PAPER_GRAMMAR, MEDIUM_GRAMMAR, QUICK_GRAMMAR, grammarTaskSchema, type GrammarTaskConfig } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";
import { PAPER_TASK3 } from "../grammar-task/paper-accuracy.js";

/**
 * The paper's Task 3 (docs/spec/TASKS.md §5): the Task-1 grammar (amb = depth = 40, alphabet 41); from symbol 50 on, each
 * symbol is followed with probability 0.1 by one distractor token (d = 0.1 s) that the grammar forbids in the current
 * hidden state; no noise; the test split is drawn the same way.
 */
const paper: GrammarTaskConfig = {
  ...PAPER_GRAMMAR,
  gapStart: 50,
  gapProb: 0.1,
  gapMin: 0.1,
  gapMax: 0.1,
  testGap: -1,
  noise: 0,
  distractors: true,
};

export const task3Definition: TaskDefinition<GrammarTaskConfig> = {
  id: "task3",
  suite: { position: 3, paperAccuracy: PAPER_TASK3 },
  description: "SelectivBench Task 3: ignore grammar-violating distractor tokens inserted after symbol 50 with probability 0.1",
  schema: grammarTaskSchema,
  defaults: paper,
  presets: {
    paper,
    // Shorter samples: distractors start after the same quarter of the sample as in the paper (50 of 200).
    quick: {
      ...QUICK_GRAMMAR,
      combinedLength: 64,
      gapStart: 16,
    },
    medium: { ...MEDIUM_GRAMMAR, combinedLength: 64, gapStart: 16 },
    // A higher distractor probability so that the few symbols of a smoke sample see some.
    smoke: {
      alphabetSize: 4,
      ambiguities: 3,
      ambiguityDepth: 2,
      combinedLength: 24,
      trainSize: 64,
      testSize: 32,
      gapStart: 6,
      gapProb: 0.25,
    },
  },
  // The reference's task3.yaml sweeps d_state 64 (its other files 128): Mamba's and Mamba2's dState here.
  modelPresets: { paper: { dState: 64 } },
  create: createGrammarTask,
};
