import type { Split } from "@selectiv/core";
import type { SampleGenerator } from "../samples/generator.js";

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
