import type { Split } from "@selectiv/core";
import type { SampleGenerator } from "../samples/generator.js";
import type { GrammarTaskInstance } from "./instance.js";

/** Share of each class among the symbols of samples 0 .. count-1 of `split`. */
export function classShares(generator: SampleGenerator, split: Split, count: number): Float64Array {
  const counts = new Float64Array(generator.grammar.numStates);
  const length = generator.length;
  const classes = new Uint16Array(length);
  for (let n = 0; n < count; n++) {
    generator.classesInto(split, n, classes, 0);
    for (let i = 0; i < length; i++) counts[classes[i]!]!++;
  }
  const total = count * length;
  return counts.map((c) => c / total);
}

export interface MajorityBaseline {
  /** The class most frequent among the training symbols. */
  readonly classId: number;
  readonly className: string;
  /** Fraction of the split's symbols whose class is classId. */
  readonly accuracy: number;
}

/**
 * Accuracy of always answering the most frequent training class (tasks.md §4 counts symbols): the class is chosen
 * on the train split, the accuracy measured on `split`. `maxSamples` caps the samples read from each split.
 */
export function majorityClassBaseline(
  task: Pick<GrammarTaskInstance, "generator" | "splitSize">,
  split: Split,
  maxSamples = Infinity,
): MajorityBaseline {
  const trainSamples = Math.min(task.splitSize("train"), maxSamples);
  const samples = Math.min(task.splitSize(split), maxSamples);
  const trainShares = classShares(task.generator, "train", trainSamples);
  let classId = 0;
  for (let c = 1; c < trainShares.length; c++) if (trainShares[c]! > trainShares[classId]!) classId = c;
  const shares = split === "train" ? trainShares : classShares(task.generator, split, samples);
  return { classId, className: task.generator.grammar.stateNames[classId]!, accuracy: shares[classId]! };
}
