import type { TaskDefinition } from "@selectiv/core";
import { type GrammarTaskConfig, grammarTaskSchema } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";
import { task2Definition } from "../task2/definition.js";
import { PAPER_TASK4_FINDING } from "../grammar-task/paper-accuracy.js";

/** Test gaps as multiples of the longest training gap: the paper trains up to 1 s and tests at 1, 2, 5 and 10 s. */
const GAP_FACTORS = [1, 2, 5, 10] as const;

/**
 * The paper's Task 4 (docs/spec/TASKS.md §5): models trained as Task 2 are tested at fixed gaps of 1, 2, 5 and 10 times the
 * longest training gap (10, 20, 50 and 100 steps at the paper's settings). The config is Task 2's; the result lists
 * the test accuracy per gap.
 */
export const task4Definition: TaskDefinition<GrammarTaskConfig> = {
  id: "task4",
  suite: { position: 4, paperFinding: PAPER_TASK4_FINDING },
  description: "SelectivBench Task 4: generalise to longer gaps — Task-2 models tested at 1, 2, 5 and 10× the longest training gap",
  schema: grammarTaskSchema,
  defaults: task2Definition.defaults,
  presets: {
    paper: task2Definition.presets.paper,
    // Test sequences grow to ~10× longer than in training: a smaller test split keeps evaluation within minutes.
    quick: { ...task2Definition.presets.quick, testSize: 100 },
    smoke: { ...task2Definition.presets.smoke, testSize: 8 },
  },
  create: createGrammarTask,
  transfer: {
    trainTask: "task2",
    variants: (config) =>
      GAP_FACTORS.map((factor) => {
        const gap = Math.round(config.gapMax * factor * 10) / 10;
        return { label: `gap ${Math.round(gap * 10)} steps`, value: Math.round(gap * 10), config: { ...config, testGap: gap } };
      }),
  },
};
