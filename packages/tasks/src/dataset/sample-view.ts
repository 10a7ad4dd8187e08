import { SelectivError, type Split } from "@selectiv/core";
import { symbolName } from "../grammar/symbols.js";
import type { GrammarTaskInstance } from "../grammar-task/instance.js";

/** One sample by name: what `selectiv data show` prints. */
export interface SampleView {
  readonly split: Split;
  readonly index: number;
  /** Time steps: symbols plus gap steps. */
  readonly steps: number;
  /** Observed symbols (`#`, letters). */
  readonly symbols: string[];
  /** Hidden-state names: the targets. */
  readonly states: string[];
  /** Steps of the gap after each symbol. */
  readonly gaps: number[];
  /** Distractor tokens of the gap after each symbol (empty lists for blank gaps). */
  readonly distractors: string[][];
  /** Amplitude of the Uniform[0, 1) noise added to every input entry. */
  readonly noise: number;
}

/** Sample `index` of `split` of a grammar task, by symbol and state name. */
export function sampleView(instance: GrammarTaskInstance, split: Split, index: number): SampleView {
  const size = instance.splitSize(split);
  if (!(Number.isInteger(index) && index >= 0 && index < size)) {
    throw new SelectivError(`--index: got ${index}; expected an integer in [0, ${size - 1}] (the ${size} ${split} samples)`);
  }
  const set = instance.generator.generate(split, index, 1);
  const { stateNames } = instance.grammar;
  const symbols = Array.from(set.symbols, symbolName);
  const states = Array.from(set.classes, (c) => stateNames[c]!);
  const gaps = Array.from(set.gapSteps);
  const distractors: string[][] = [];
  let token = 0;
  for (const gap of gaps) {
    const tokens = instance.generator.options.distractors ? Array.from(set.distractorTokens.subarray(token, token + gap), symbolName) : [];
    token += tokens.length;
    distractors.push(tokens);
  }
  return { split, index, steps: set.steps[0]!, symbols, states, gaps, distractors, noise: instance.generator.options.noise };
}
