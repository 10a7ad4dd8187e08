import { Rng, type Batch, type Objective, type Split, type TaskInstance } from "@selectiv/core";
import { generateGrammar, grammarRng } from "../grammar/generate.js";
import type { Grammar } from "../grammar/grammar.js";
import { GapSchedule } from "../samples/gaps.js";
import { SampleGenerator, type FixedClassSequences } from "../samples/generator.js";
import { ceilingCounts } from "./ceiling.js";
import { classShares } from "./class-shares.js";
import {
  OBJECTIVE_DEFAULTS,
  checkGrammarTaskConfig,
  checkTimeAxisConfig,
  type GrammarTaskConfig,
  type KlSteps,
  type ObjectiveConfig,
  type TimeAxisConfig,
} from "./config.js";
import { nextSymbolDistributions, predictionBatch } from "./prediction.js";

/** Strings drawn for the mean string length of the summary (the reference statistics use 300). */
export const SUMMARY_STRINGS = 300;
/** Training samples whose classes give the summary's majority-class share. */
const SUMMARY_SAMPLES = 1000;

/**
 * Everything besides (split, index) that determines a grammar task's samples, as plain JSON: the grammar's source
 * (its knobs, or the digest of the files it was read from), the run seed, lengths and the time axis of each split.
 * Fields that only say how many samples there are (trainSize, testSize) are not part of it.
 */
export interface DataIdentity {
  readonly grammar: Readonly<Record<string, number | string>>;
  readonly seed: number;
  readonly combinedLength: number;
  readonly seqLenMax: number;
  readonly gaps: Readonly<Record<Split, Readonly<Record<string, number>>>>;
  readonly noise: number;
  readonly distractors: boolean;
}

/** The string generator's seed for the summary's mean string length (also used by `selectiv data stats`). */
export function summaryRng(seed: number): Rng {
  return Rng.from("selectiv.summary", seed);
}

/**
 * A grammar task made concrete: the grammar of the run seed (or of a dataset) and its sample generator. The objective
 * (docs/spec/TASKS.md §4) decides the targets: hidden-state classes, or in prediction mode the next symbol with its true
 * distribution (numClasses = alphabetSize).
 */
export class GrammarTaskInstance implements TaskInstance {
  readonly inputSize: number;
  readonly numClasses: number;
  readonly objective: Objective;
  readonly klSteps: KlSteps;
  readonly summary: Readonly<Record<string, number | string>>;
  /** Prediction mode: the next-symbol distribution of every hidden state, shared by every batch. */
  private nextSymbolRows: Float32Array | undefined;
  private readonly ceilings = new Map<Split, number>();

  constructor(
    readonly grammar: Grammar,
    readonly generator: SampleGenerator,
    private readonly sizes: Readonly<Record<Split, number>>,
    readonly identity: DataIdentity,
    extraSummary: Readonly<Record<string, number | string>> = {},
    objective: Pick<ObjectiveConfig, "mode" | "klSteps"> = OBJECTIVE_DEFAULTS,
  ) {
    this.objective = objective.mode;
    this.klSteps = objective.klSteps;
    this.inputSize = grammar.alphabetSize;
    this.numClasses = this.objective === "prediction" ? grammar.alphabetSize : grammar.numStates;
    const { states, edges, edgesToEnd, te } = grammar.stats();
    const meanStringLength = generator.strings.meanLength(summaryRng(generator.options.seed), SUMMARY_STRINGS);
    const shares = classShares(generator, "train", Math.min(sizes.train, SUMMARY_SAMPLES));
    this.summary = {
      states,
      edges,
      edgesToEnd,
      te,
      meanStringLength,
      majorityClassShare: Math.max(...shares),
      startStates: grammar.startStateNames.join(" "),
      ...extraSummary,
    };
  }

  splitSize(split: Split): number {
    return this.sizes[split];
  }

  /**
   * The best window accuracy any model can reach on the split (docs/spec/TASKS.md §4.1), computed once per split; NaN in
   * prediction mode (its metric is the KL divergence) and where the filter cannot stay exact.
   */
  ceiling(split: Split): number {
    if (this.objective === "prediction") return NaN;
    let value = this.ceilings.get(split);
    if (value === undefined) {
      const counts = ceilingCounts(this.generator, split, this.sizes[split]);
      value = counts ? counts.correct / Math.max(1, counts.total) : NaN;
      this.ceilings.set(split, value);
    }
    return value;
  }

  batch(split: Split, start: number, count: number): Batch {
    const size = this.sizes[split];
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= size)) {
      throw new RangeError(`batch(${split}, ${start}, ${count}) is outside the ${size} samples of the split`);
    }
    if (this.objective !== "prediction") return this.generator.batch(split, start, count);
    const set = this.generator.generate(split, start, count);
    this.nextSymbolRows ??= nextSymbolDistributions(this.grammar);
    return predictionBatch(this.grammar, this.nextSymbolRows, set, this.generator.materialise(set), this.klSteps);
  }
}

/** The fields of a gap schedule that change the gaps drawn. */
function scheduleIdentity(schedule: GapSchedule): Record<string, number> {
  const { gapStart, gapProb, gapMin, gapMax, fixedGap } = schedule;
  return fixedGap === undefined ? { gapStart, gapProb, gapMin, gapMax } : { gapStart, gapProb, gapMin, gapMax, fixedGap };
}

/**
 * The sample generator of a grammar and a time axis (docs/spec/TASKS.md §2–§3), and the identity of its data. `fixed` serves
 * stored hidden-state sequences (a dataset read from disk) instead of drawing strings.
 */
export function grammarSampleGenerator(
  grammar: Grammar,
  grammarIdentity: Readonly<Record<string, number | string>>,
  seed: number,
  lengths: { readonly combinedLength: number; readonly seqLenMax: number },
  timeAxis: TimeAxisConfig,
  fixed?: FixedClassSequences,
): { generator: SampleGenerator; identity: DataIdentity } {
  checkTimeAxisConfig(timeAxis);
  const train = new GapSchedule(timeAxis);
  const test = timeAxis.testGap === -1 ? train : train.withFixedGap(timeAxis.testGap);
  const { noise, distractors } = timeAxis;
  const generator = new SampleGenerator(grammar, { seed, ...lengths, gaps: { train, test }, distractors, noise }, fixed);
  const identity: DataIdentity = {
    grammar: grammarIdentity,
    seed,
    combinedLength: lengths.combinedLength,
    seqLenMax: lengths.seqLenMax,
    gaps: { train: scheduleIdentity(train), test: scheduleIdentity(test) },
    noise,
    distractors,
  };
  return { generator, identity };
}

/** Builds the grammar of `seed` (the run seed is the grammar seed, docs/spec/TASKS.md §5) and the sample generator. */
export function createGrammarTask(config: GrammarTaskConfig, seed: number): GrammarTaskInstance {
  checkGrammarTaskConfig(config);
  const grammar = generateGrammar(config, grammarRng(seed));
  const { alphabetSize, ambiguities, ambiguityDepth, initialStates, transitionDensity, minStringLength } = config;
  const { generator, identity } = grammarSampleGenerator(
    grammar,
    { alphabetSize, ambiguities, ambiguityDepth, initialStates, transitionDensity, minStringLength },
    seed,
    config,
    config,
  );
  return new GrammarTaskInstance(grammar, generator, { train: config.trainSize, test: config.testSize }, identity, {}, config);
}

/** The instance as a grammar task, or undefined for a task of another kind (e.g. a plugin's). */
export function asGrammarTask(instance: TaskInstance): GrammarTaskInstance | undefined {
  return instance instanceof GrammarTaskInstance ? instance : undefined;
}
