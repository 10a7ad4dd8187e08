import type { Rng } from "@selectiv/core";
import type { StringSampler } from "../samples/strings.js";
import type { Grammar } from "../grammar/grammar.js";

/** The distribution of string lengths (`#` included) over a number of drawn strings. */
export interface StringLengthStats {
  readonly strings: number;
  readonly mean: number;
  readonly min: number;
  readonly p10: number;
  readonly median: number;
  readonly p90: number;
  readonly max: number;
  /** Counts per length bin [from, to], bins of equal width covering min .. max. */
  readonly histogram: ReadonlyArray<{ readonly from: number; readonly to: number; readonly count: number }>;
}

/** One grammar's figures, as the reference statistics report them (reference-grammar-stats.json). */
export interface GrammarStatistics {
  readonly states: number;
  readonly edges: number;
  readonly edgesToEnd: number;
  readonly te: number;
  readonly meanStringLength: number;
  readonly stringLengths: StringLengthStats;
}

/** The four figures compared with the reference (and the state count), averaged over grammars. */
export interface MeanGrammarStatistics {
  readonly grammars: number;
  readonly states: number;
  readonly edges: number;
  readonly edgesToEnd: number;
  readonly te: number;
  readonly meanStringLength: number;
}

const HISTOGRAM_BINS = 10;

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: Int32Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Lengths of `count` strings drawn from `strings` with `rng`: mean, quantiles and a 10-bin histogram. */
export function stringLengthStats(strings: StringSampler, rng: Rng, count: number): StringLengthStats {
  const buffer = new Uint16Array(strings.seqLenMax);
  const lengths = new Int32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    lengths[i] = strings.drawInto(rng, buffer, 0);
    total += lengths[i]!;
  }
  lengths.sort();
  const min = lengths[0]!;
  const max = lengths[count - 1]!;
  const width = Math.max(1, Math.ceil((max - min + 1) / HISTOGRAM_BINS));
  const histogram: { from: number; to: number; count: number }[] = [];
  for (let from = min; from <= max; from += width) histogram.push({ from, to: Math.min(max, from + width - 1), count: 0 });
  for (const length of lengths) histogram[Math.floor((length - min) / width)]!.count++;
  return {
    strings: count,
    mean: total / count,
    min,
    p10: quantile(lengths, 0.1),
    median: quantile(lengths, 0.5),
    p90: quantile(lengths, 0.9),
    max,
    histogram,
  };
}

/** States, edges, edges into `#`, topological entropy and the string-length distribution of one grammar. */
export function grammarStatistics(grammar: Grammar, strings: StringSampler, rng: Rng, count: number): GrammarStatistics {
  const stringLengths = stringLengthStats(strings, rng, count);
  return { ...grammar.stats(), meanStringLength: stringLengths.mean, stringLengths };
}

/** Means over grammars of the figures the reference statistics give. */
export function meanGrammarStatistics(all: readonly GrammarStatistics[]): MeanGrammarStatistics {
  const mean = (f: (s: GrammarStatistics) => number): number => all.reduce((sum, s) => sum + f(s), 0) / all.length;
  return {
    grammars: all.length,
    states: mean((s) => s.states),
    edges: mean((s) => s.edges),
    edgesToEnd: mean((s) => s.edgesToEnd),
    te: mean((s) => s.te),
    meanStringLength: mean((s) => s.meanStringLength),
  };
}
