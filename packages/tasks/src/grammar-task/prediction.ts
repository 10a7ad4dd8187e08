import type { Batch } from "@selectiv/core";
import type { Grammar } from "../grammar/grammar.js";
import { END_ID } from "../grammar/symbols.js";
import type { SampleSet } from "../samples/generator.js";
import type { KlSteps } from "./config.js";

/**
 * The true next-symbol distribution of every hidden state (docs/spec/TASKS.md §4), as [numStates, alphabetSize] rows: the
 * state's transition-matrix row folded onto the symbols its successors emit. The row of `#` is one-hot on `#` (after
 * `#` the target is `#`, as in the reference: the next string's start is not predictable from the state).
 */
export function nextSymbolDistributions(grammar: Grammar): Float32Array {
  const { numStates, alphabetSize, edgeOffsets, edgeTargets, edgeProbabilities, stateSymbols } = grammar;
  const rows = new Float32Array(numStates * alphabetSize);
  for (let s = 0; s < numStates; s++) {
    if (s === END_ID) {
      rows[s * alphabetSize + END_ID] = 1;
      continue;
    }
    for (let e = edgeOffsets[s]!; e < edgeOffsets[s + 1]!; e++)
      rows[s * alphabetSize + stateSymbols[edgeTargets[e]!]!]! += edgeProbabilities[e]!;
  }
  return rows;
}

/**
 * The next symbol after symbol i of sample n of `set` (row n - first of the batch): the following symbol, `#` after
 * `#`, and for the last symbol the next state of the walk; -1 where that is unknown (a stored sequence cut mid-string).
 */
function nextSymbol(grammar: Grammar, set: SampleSet, n: number, i: number): number {
  const L = set.length;
  const state = set.classes[n * L + i]!;
  if (state === END_ID) return END_ID;
  if (i + 1 < L) return set.symbols[n * L + i + 1]!;
  const after = set.nextClasses[n]!;
  return after >= 0 ? grammar.stateSymbols[after]! : -1;
}

/**
 * A prediction batch (docs/spec/TASKS.md §4) from the classification batch of samples first .. first+count-1 of `set`: the
 * target of every step in symbol i's evaluation window is the symbol that follows symbol i (held through the gap, as
 * the reference holds it), the target distribution is the row of symbol i's hidden state in `rows`
 * (nextSymbolDistributions), and the mask holds the steps the loss and KL count: `windows` = steps in an evaluation
 * window (the reference's gap_kldiv), `all` = every real step. A symbol whose successor is unknown (the last symbol of a
 * stored sequence cut mid-string) has no target: its window is masked out. `symbolTargets` hold each symbol's next
 * symbol (-1 where unknown).
 */
export function predictionBatch(grammar: Grammar, rows: Float32Array, set: SampleSet, batch: Batch, klSteps: KlSteps, first = 0): Batch {
  const { size: B, steps: T, maxSymbols: L } = batch;
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  const index = new Int32Array(B * T).fill(-1);
  const symbolTargets = new Int32Array(B * L).fill(-1);
  const next = new Int32Array(L);
  for (let b = 0; b < B; b++) {
    const n = first + b;
    for (let i = 0; i < L; i++) next[i] = nextSymbol(grammar, set, n, i);
    symbolTargets.set(next, b * L);
    for (let t = b * T; t < (b + 1) * T; t++) {
      const w = batch.windows[t]!;
      const counted = klSteps === "windows" ? w >= 0 : batch.mask[t] !== 0;
      if (!counted || w < 0 || next[w]! < 0) continue;
      targets[t] = next[w]!;
      mask[t] = 1;
      index[t] = set.classes[n * L + w]!;
    }
  }
  return { ...batch, targets, mask, symbolTargets, targetDistributions: { rows, index } };
}
