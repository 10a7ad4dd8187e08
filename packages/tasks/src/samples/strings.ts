import { SelectivError, type Rng } from "@selectiv/core";
import type { Grammar } from "../grammar/grammar.js";
import { END_ID } from "../grammar/symbols.js";

/** The reference gives up after this many rejected strings (docs/spec/TASKS.md §2). */
export const MAX_STRING_TRIES = 10_000;

/**
 * Draws grammar strings (docs/spec/TASKS.md §2) as hidden-state (class id) sequences ending in `#`.
 *
 * The reference draws random walks and rejects those longer than seqLenMax. At the paper's grammar fewer than 1 in
 * 10 walks fits in 200 symbols, so rejection wastes most of the work; this class samples the same conditional
 * distribution directly. With fits[r][s] = P(a walk from s emits `#` within r symbols, s included), the walk picks
 * a start with weight fits[seqLenMax][start] and, having emitted n symbols, the successor t of s with weight
 * P(s, t) · fits[seqLenMax - n][t]. The product of these factors is the walk's probability divided by the
 * probability of fitting, i.e. exactly the law of accepted walks.
 */
export class StringSampler {
  /** [r * numStates + s] = P(a walk from s ends with `#` within r symbols). */
  private readonly fits: Float64Array;
  private readonly startCumulative: Float64Array;
  /** Probability that a random walk from a uniform start state fits in seqLenMax symbols. */
  readonly fitProbability: number;

  constructor(
    readonly grammar: Grammar,
    /** Strings with more symbols than this are never produced (the reference redraws them). */
    readonly seqLenMax: number,
  ) {
    if (!(Number.isInteger(seqLenMax) && seqLenMax >= 2)) {
      throw new SelectivError(`seqLenMax: got ${seqLenMax}; expected an integer ≥ 2 (a string holds a start state and "#")`);
    }
    const n = grammar.numStates;
    const { edgeOffsets, edgeTargets, edgeProbabilities, startStates } = grammar;
    const fits = new Float64Array((seqLenMax + 1) * n);
    for (let r = 1; r <= seqLenMax; r++) {
      const row = r * n;
      const previous = row - n;
      fits[row + END_ID] = 1;
      for (let s = 0; s < n; s++) {
        if (s === END_ID) continue;
        let sum = 0;
        for (let e = edgeOffsets[s]!; e < edgeOffsets[s + 1]!; e++) sum += edgeProbabilities[e]! * fits[previous + edgeTargets[e]!]!;
        fits[row + s] = sum;
      }
    }
    this.fits = fits;
    this.startCumulative = new Float64Array(startStates.length);
    let total = 0;
    for (let i = 0; i < startStates.length; i++) {
      total += fits[seqLenMax * n + startStates[i]!]!;
      this.startCumulative[i] = total;
    }
    this.fitProbability = total / startStates.length;
    if (!(this.fitProbability * MAX_STRING_TRIES >= 1)) {
      throw new SelectivError(
        `seqLenMax: got ${seqLenMax}; only ${this.fitProbability.toExponential(2)} of this grammar's strings fit (the reference gives up after ${MAX_STRING_TRIES} tries); expected a larger seqLenMax`,
      );
    }
  }

  /** P(a walk from `state` ends with `#` within `symbols` symbols, `state` included), for symbols in 0 .. seqLenMax. */
  fitsWithin(symbols: number, state: number): number {
    return this.fits[symbols * this.grammar.numStates + state]!;
  }

  /**
   * One string: a walk from a start state until `#` (included), conditioned on at most seqLenMax symbols, written
   * into `out` from `offset` (room for seqLenMax entries needed). Returns its length.
   */
  drawInto(rng: Rng, out: Uint16Array, offset: number): number {
    const { startStates, edgeOffsets, edgeTargets, edgeProbabilities } = this.grammar;
    const fits = this.fits;
    const n = this.grammar.numStates;
    const limit = this.seqLenMax;
    const starts = this.startCumulative;
    let state = startStates[pick(starts, 0, starts.length, rng.next() * starts[starts.length - 1]!)]!;
    let length = 0;
    for (;;) {
      out[offset + length++] = state;
      if (state === END_ID) return length;
      const row = (limit - length) * n;
      const first = edgeOffsets[state]!;
      const end = edgeOffsets[state + 1]!;
      let u = rng.next() * fits[row + n + state]!;
      let chosen = -1;
      for (let e = first; e < end; e++) {
        const weight = edgeProbabilities[e]! * fits[row + edgeTargets[e]!]!;
        if (weight > 0) {
          chosen = e;
          u -= weight;
          if (u < 0) break;
        }
      }
      state = edgeTargets[chosen]!;
    }
  }

  /** Mean length of `count` strings ('#' included). */
  meanLength(rng: Rng, count: number): number {
    const buffer = new Uint16Array(this.seqLenMax);
    let total = 0;
    for (let i = 0; i < count; i++) total += this.drawInto(rng, buffer, 0);
    return total / count;
  }
}

/** First index in [from, to) whose running sum exceeds u (the last one if rounding leaves u past the end). */
function pick(cumulative: Float64Array, from: number, to: number, u: number): number {
  for (let i = from; i < to - 1; i++) if (u < cumulative[i]!) return i;
  return to - 1;
}
