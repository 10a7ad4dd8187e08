import { Rng, type Batch, type Split, type TaskInstance } from "@selectiv/core";
import { generateGrammar, grammarRng } from "../grammar/generate.js";
import type { Grammar } from "../grammar/grammar.js";
import { GapSchedule } from "../samples/gaps.js";
import { SampleGenerator } from "../samples/generator.js";
import { classShares } from "./baseline.js";
import { checkGrammarTaskConfig, type GrammarTaskConfig } from "./config.js";

/** Strings drawn for the mean string length of the summary (the reference statistics use 300). */
const SUMMARY_STRINGS = 300;
/** Training samples whose classes give the summary's majority-class share. */
const SUMMARY_SAMPLES = 1000;

/** A grammar task made concrete: the grammar of the run seed and its sample generator. */
export class GrammarTaskInstance implements TaskInstance {
  readonly inputSize: number;
  readonly numClasses: number;
  readonly summary: Readonly<Record<string, number | string>>;

  constructor(
    readonly grammar: Grammar,
    readonly generator: SampleGenerator,
    private readonly sizes: Readonly<Record<Split, number>>,
  ) {
    this.inputSize = grammar.alphabetSize;
    this.numClasses = grammar.numStates;
    const { states, edges, edgesToEnd, te } = grammar.stats();
    const meanStringLength = generator.strings.meanLength(Rng.from("selectiv.summary", generator.options.seed), SUMMARY_STRINGS);
    const shares = classShares(generator, "train", Math.min(sizes.train, SUMMARY_SAMPLES));
    this.summary = {
      states,
      edges,
      edgesToEnd,
      te,
      meanStringLength,
      majorityClassShare: Math.max(...shares),
      startStates: grammar.startStateNames.join(" "),
    };
  }

  splitSize(split: Split): number {
    return this.sizes[split];
  }

  batch(split: Split, start: number, count: number): Batch {
    const size = this.sizes[split];
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= size)) {
      throw new RangeError(`batch(${split}, ${start}, ${count}) is outside the ${size} samples of the split`);
    }
    return this.generator.batch(split, start, count);
  }
}

/** Builds the grammar of `seed` (the run seed is the grammar seed, tasks.md §5) and the sample generator. */
export function createGrammarTask(config: GrammarTaskConfig, seed: number): GrammarTaskInstance {
  checkGrammarTaskConfig(config);
  const grammar = generateGrammar(config, grammarRng(seed));
  const train = new GapSchedule(config);
  const test = config.testGap === -1 ? train : train.withFixedGap(config.testGap);
  const generator = new SampleGenerator(grammar, {
    seed,
    combinedLength: config.combinedLength,
    seqLenMax: config.seqLenMax,
    gaps: { train, test },
    distractors: config.distractors,
    noise: config.noise,
  });
  return new GrammarTaskInstance(grammar, generator, { train: config.trainSize, test: config.testSize });
}
