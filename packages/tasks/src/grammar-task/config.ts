import { OBJECTIVES, SelectivError, type Config, type ConfigSchema, type Objective } from "@selectiv/core";
import { MAX_LETTERS } from "../grammar/symbols.js";
import { MAX_GAP_SECONDS } from "../samples/gaps.js";

/** The time-axis fields of a grammar task's config (docs/spec/TASKS.md §3). */
export interface TimeAxisConfig extends Config {
  gapStart: number;
  gapProb: number;
  gapMin: number;
  gapMax: number;
  testGap: number;
  noise: number;
  distractors: boolean;
}

/** Steps the prediction objective's loss and KL divergence count (docs/spec/TASKS.md §4; the reference's gap_kldiv). */
export type KlSteps = "windows" | "all";
export const KL_STEPS: readonly KlSteps[] = ["windows", "all"];

/** What a grammar task trains (docs/spec/TASKS.md §4): hidden-state classification or next-symbol prediction. */
export interface ObjectiveConfig extends Config {
  mode: Objective;
  klSteps: KlSteps;
}

/** Classification over the evaluation windows: the reference's `--classify` runs (every published task). */
export const OBJECTIVE_DEFAULTS: ObjectiveConfig = { mode: "classification", klSteps: "windows" };

/** The knobs shared by every SelectivBench grammar task (docs/spec/TASKS.md §1–§3). */
export interface GrammarTaskConfig extends TimeAxisConfig, ObjectiveConfig {
  alphabetSize: number;
  ambiguities: number;
  ambiguityDepth: number;
  initialStates: number;
  transitionDensity: number;
  minStringLength: number;
  combinedLength: number;
  seqLenMax: number;
  trainSize: number;
  testSize: number;
}

/** The time axis of a grammar task (docs/spec/TASKS.md §3): gaps after symbols, their fill, and the noise. */
export const timeAxisSchema: ConfigSchema = {
  gapStart: { type: "int", min: 0, description: "symbols at the start of a sample never followed by a gap" },
  gapProb: { type: "number", min: 0, max: 1, description: "probability that a symbol is followed by a gap" },
  gapMin: { type: "number", min: 0, max: MAX_GAP_SECONDS, description: "shortest training gap in seconds (10 steps per second)" },
  gapMax: { type: "number", min: 0, max: MAX_GAP_SECONDS, description: "longest training gap in seconds" },
  testGap: { type: "number", min: -1, max: MAX_GAP_SECONDS, description: "fixed test gap in seconds; -1 = drawn as in training" },
  noise: { type: "number", min: 0, description: "amplitude of Uniform[0, 1) noise added to every input entry" },
  distractors: { type: "boolean", description: "fill gaps with grammar-violating tokens instead of blank steps (reference grammar_gap)" },
};

/** The objective of a grammar task (docs/spec/TASKS.md §4). */
export const objectiveSchema: ConfigSchema = {
  mode: {
    type: "enum",
    values: OBJECTIVES,
    description:
      "classification: per-step hidden state, window accuracy; prediction: per-step next symbol (numClasses = symbols), KL divergence to the true next-symbol distribution",
  },
  klSteps: {
    type: "enum",
    values: KL_STEPS,
    description:
      "prediction mode: steps the loss and KL count: windows = evaluation windows (the reference's gap_kldiv), all = every real step; the same steps while every symbol takes one step",
  },
};

export const grammarTaskSchema: ConfigSchema = {
  alphabetSize: { type: "int", min: 2, max: MAX_LETTERS + 1, description: 'symbols including the end symbol "#" (one-hot input size)' },
  ambiguities: { type: "int", min: 0, max: MAX_LETTERS, description: "letters that get several hidden states (≤ alphabetSize - 1)" },
  ambiguityDepth: { type: "int", min: 0, max: 1000, description: "hidden states per ambiguous letter" },
  initialStates: { type: "int", min: 1, description: "distinct start states of the grammar" },
  transitionDensity: { type: "number", min: 0, exclusiveMin: true, description: "edge density, divided by ambiguityDepth before use" },
  minStringLength: { type: "int", min: 0, description: 'fewest transitions from a start state to "#" (1 = no constraint)' },
  combinedLength: { type: "int", min: 1, max: 100_000, description: "symbols per sample (strings concatenated, then cut)" },
  seqLenMax: { type: "int", min: 2, max: 60_000, description: "longest string kept, in symbols; longer ones are redrawn" },
  trainSize: { type: "int", min: 1, description: "training samples" },
  testSize: { type: "int", min: 1, description: "test samples" },
  ...timeAxisSchema,
  ...objectiveSchema,
};

/** Cross-field checks of the time axis the schema cannot express; one-line SelectivErrors. */
export function checkTimeAxisConfig(config: TimeAxisConfig): void {
  if (config.gapMin > config.gapMax) {
    throw new SelectivError(`gapMin: got ${config.gapMin}; expected ≤ gapMax (${config.gapMax})`);
  }
  if (config.testGap !== -1 && config.testGap < 0) {
    throw new SelectivError(
      `testGap: got ${config.testGap}; expected -1 (same gaps as training) or a duration in [0, ${MAX_GAP_SECONDS}] seconds`,
    );
  }
}

/** Cross-field checks the schema cannot express; one-line SelectivErrors. */
export function checkGrammarTaskConfig(config: GrammarTaskConfig): void {
  checkTimeAxisConfig(config);
  if (config.ambiguities > config.alphabetSize - 1) {
    throw new SelectivError(
      `ambiguities: got ${config.ambiguities}; expected at most alphabetSize - 1 = ${config.alphabetSize - 1} (the number of letters)`,
    );
  }
}

/**
 * The grammar of the `quick` preset on Tasks 1–4: amb = depth = 12 over 13 symbols (Task 1's complexity 12). The old
 * quick grammar (amb = depth = 4) put every model on the ceiling; at complexity 12 the paper's models spread by tens of
 * points and stay far under it on 4,800 samples (docs/CALIBRATION.md, rounds 2–3).
 */
export const QUICK_GRAMMAR = {
  alphabetSize: 13,
  ambiguities: 12,
  ambiguityDepth: 12,
  trainSize: 4_800,
  testSize: 500,
} as const;

/**
 * The grammar of the `medium` preset: amb = depth = 16 over 17 symbols on twice quick's samples, for the medium
 * model (width 128, 4 layers). At quick's model this grammar underfits (every model at 0.33–0.41,
 * docs/CALIBRATION.md round 1).
 */
export const MEDIUM_GRAMMAR = {
  alphabetSize: 17,
  ambiguities: 16,
  ambiguityDepth: 16,
  trainSize: 9_600,
  testSize: 500,
} as const;

/**
 * The paper's shared settings (docs/spec/TASKS.md §5): the amb = depth = 40 grammar over 41 symbols, 200-symbol samples,
 * 200,000 training and 1,000 test samples. Tasks 1–3 differ only in their time axis.
 */
export const PAPER_GRAMMAR = {
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
  ...OBJECTIVE_DEFAULTS,
} as const;
