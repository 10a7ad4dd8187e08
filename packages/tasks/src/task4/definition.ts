import { type ConfigSchema, SelectivError, type TaskDefinition } from "@selectiv/core";
import { type GrammarTaskConfig, grammarTaskSchema } from "../grammar-task/config.js";
import { createGrammarTask } from "../grammar-task/instance.js";
import { MAX_GAP_SECONDS, toSteps } from "../samples/gaps.js";
import { task2Definition } from "../task2/definition.js";
import { PAPER_TASK4_FINDING } from "../grammar-task/paper-accuracy.js";

/** Task 4's config: Task 2's, plus the test gaps (docs/spec/TASKS.md §5). */
export interface Task4Config extends GrammarTaskConfig {
  /** Test gaps in seconds, comma-separated: each variant's test split has every gap fixed at one of them. */
  testGaps: string;
}

export const task4Schema: ConfigSchema = {
  ...grammarTaskSchema,
  testGaps: {
    type: "string",
    description: `test gaps in seconds, comma-separated (the reference's test_dur; paper 1,2,5,10), each in [0, ${MAX_GAP_SECONDS}]`,
  },
};

/**
 * The test gaps of a Task-4 config, in seconds: a comma-separated list of absolute durations (the reference's
 * `test_dur`), each in [0, MAX_GAP_SECONDS] and a distinct step count (10 steps per second). A bad list is one line
 * naming the field, the value and what is allowed.
 */
export function parseTestGaps(text: string): number[] {
  const bad = (why: string): never => {
    throw new SelectivError(
      `task4.testGaps: got ${JSON.stringify(text)}; expected comma-separated durations in seconds, each in [0, ${MAX_GAP_SECONDS}] (e.g. "1,2,5,10")${why}`,
    );
  };
  const parts = text.split(",").map((p) => p.trim());
  const gaps = parts.map((p) => (p === "" ? NaN : Number(p)));
  if (gaps.some((g) => !Number.isFinite(g) || g < 0 || g > MAX_GAP_SECONDS)) bad("");
  const steps = gaps.map(toSteps);
  if (new Set(steps).size !== steps.length) bad("; each gap once (durations are counted in 0.1 s steps)");
  return gaps;
}

// The paper tests at 1, 2, 5 and 10 s; the smaller presets at 1, 2, 5 and 10 × their training gapMax (0.5 s for quick
// and medium, 0.3 s for smoke).
const PAPER_TEST_GAPS = "1,2,5,10";

/**
 * The paper's Task 4 (docs/spec/TASKS.md §5): models trained as Task 2 are tested at fixed gaps of 1, 2, 5 and 10 s
 * (10, 20, 50 and 100 steps), the reference's `test_dur`. The config is Task 2's plus `testGaps`, absolute durations
 * (`--set task4.testGaps=1,2,5,10,60`); the result lists the test accuracy per gap. `testGaps` is not part of the
 * trained Task-2 run, so other gaps reuse it.
 */
export const task4Definition: TaskDefinition<Task4Config> = {
  id: "task4",
  suite: { position: 4, paperFinding: PAPER_TASK4_FINDING },
  description: "SelectivBench Task 4: generalise to longer gaps — Task-2 models tested at gaps of 1, 2, 5 and 10 s (testGaps)",
  schema: task4Schema,
  defaults: { ...task2Definition.defaults, testGaps: PAPER_TEST_GAPS },
  presets: {
    paper: { ...task2Definition.presets.paper, testGaps: PAPER_TEST_GAPS },
    // Test sequences grow to ~10× longer than in training: on CPU a smaller test split keeps evaluation within
    // minutes. Medium runs on the GPU (docs/CALIBRATION.md round 4) and keeps Task 2's test split, so its Task-4
    // runs reuse the Task-2 runs of the same seed (the trained run's settings include the test size).
    quick: { ...task2Definition.presets.quick, testSize: 100, testGaps: "0.5,1,2.5,5" },
    medium: { ...task2Definition.presets.medium, testGaps: "0.5,1,2.5,5" },
    smoke: { ...task2Definition.presets.smoke, testSize: 8, testGaps: "0.3,0.6,1.5,3" },
  },
  create: createGrammarTask,
  transfer: {
    trainTask: "task2",
    variants: (config) =>
      parseTestGaps(config.testGaps).map((gap) => {
        const steps = toSteps(gap);
        return { label: `gap ${steps} steps`, value: steps, config: { ...config, testGap: steps / 10 } };
      }),
  },
};
