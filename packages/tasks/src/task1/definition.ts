import type { TaskDefinition } from "@selectiv/core";
import { grammarTaskSchema, type GrammarTaskConfig } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";

/** The paper's Task 1 (tasks.md §5): amb = depth = 40, alphabet 41, one blank step after every symbol. */
const paper: GrammarTaskConfig = {
  alphabetSize: 41,
  ambiguities: 40,
  ambiguityDepth: 40,
  initialStates: 4,
  transitionDensity: 0.4,
  minStringLength: 1,
  combinedLength: 200,
  seqLenMax: 200,
  trainSize: 200_000,
  testSize: 1_000,
  gapStart: 0,
  gapProb: 1,
  gapMin: 0.1,
  gapMax: 0.1,
  testGap: -1,
  noise: 0,
  distractors: false,
};

export const task1Definition: TaskDefinition<GrammarTaskConfig> = {
  id: "task1",
  description: "SelectivBench Task 1: track the hidden state of a random ambiguous grammar, one blank step after every symbol",
  schema: grammarTaskSchema,
  defaults: paper,
  presets: {
    paper,
    quick: {
      alphabetSize: 5,
      ambiguities: 4,
      ambiguityDepth: 4,
      combinedLength: 64,
      trainSize: 4_800,
      testSize: 500,
    },
    smoke: {
      alphabetSize: 4,
      ambiguities: 3,
      ambiguityDepth: 2,
      combinedLength: 24,
      trainSize: 64,
      testSize: 32,
    },
  },
  create: createGrammarTask,
};
