import type { Batch, Split } from "@selectiv/core";
import type { Grammar } from "../grammar/grammar.js";
import { END_ID } from "../grammar/symbols.js";
import type { SampleGenerator } from "../samples/generator.js";
import type { StringSampler } from "../samples/strings.js";

/** A reading of an input step that is no symbol: an empty gap step (docs/spec/TASKS.md §3). */
const BLANK = -1;

/** More hypotheses than this at one step (noise ≥ 1 makes most steps ambiguous) leave the ceiling unknown (NaN). */
export const MAX_HYPOTHESES = 1 << 16;

/** Relative difference below which two window sums are the same number (docs/spec/TASKS.md §4.1). */
const TIE_TOLERANCE = 1e-9;

/** Samples generated per pass while computing a ceiling (bounds the memory of long Task-4 samples). */
const SAMPLES_PER_PASS = 16;

/** Receives one step's posterior as `count` (class, probability) pairs; a class may occur more than once (add them). */
export type PosteriorVisitor = (step: number, classes: Int32Array, probabilities: Float64Array, count: number) => void;

/**
 * The filter's hypotheses at one step: where the generator may be, with unnormalised weights. A hypothesis is the
 * hidden state of the symbol whose window holds the step, that symbol's index in its string and in the sample, and
 * the gap steps emitted after it so far. Equal hypotheses are merged.
 */
class Hypotheses {
  state = new Int32Array(8);
  position = new Int32Array(8);
  symbol = new Int32Array(8);
  gap = new Int32Array(8);
  weight = new Float64Array(8);
  count = 0;
  private readonly slots = new Map<number, number>();

  constructor(private readonly keyScale: { readonly states: number; readonly positions: number; readonly gaps: number }) {}

  clear(): void {
    this.count = 0;
    this.slots.clear();
  }

  add(state: number, position: number, symbol: number, gap: number, weight: number): void {
    if (weight <= 0) return;
    const { states, positions, gaps } = this.keyScale;
    const key = state + states * (position + positions * (gap + gaps * symbol));
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      this.weight[slot]! += weight;
      return;
    }
    if (this.count === this.state.length) this.grow();
    const k = this.count++;
    this.slots.set(key, k);
    this.state[k] = state;
    this.position[k] = position;
    this.symbol[k] = symbol;
    this.gap[k] = gap;
    this.weight[k] = weight;
  }

  /** Scales the weights to sum 1; returns the sum before (0: no hypothesis explains the inputs). */
  normalise(): number {
    let total = 0;
    for (let k = 0; k < this.count; k++) total += this.weight[k]!;
    if (total > 0) for (let k = 0; k < this.count; k++) this.weight[k]! /= total;
    return total;
  }

  private grow(): void {
    const grown = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(2 * a.length);
      b.set(a);
      return b;
    };
    this.state = grown(this.state);
    this.position = grown(this.position);
    this.symbol = grown(this.symbol);
    this.gap = grown(this.gap);
    this.weight = grown(this.weight);
  }
}

/**
 * The readings of one input step that the generator could have produced (docs/spec/TASKS.md §3): a symbol (its
 * channel 1 + Uniform[0, noise), every other channel Uniform[0, noise)) or a blank gap step (every channel
 * Uniform[0, noise)). Each such reading has the same density (1/noise)^F, so the likelihood is 1 on these readings
 * and 0 elsewhere. With noise < 1 a step has exactly one reading (the symbol's channel is ≥ 1 > noise > every other
 * channel): the observation identifies the symbol, and noise tells nothing about the hidden state. Writes the
 * readings (symbol ids or BLANK) into `out`; returns their number.
 */
function readingsOf(inputs: Float32Array, offset: number, channels: number, noise: number, out: Int32Array): number {
  // Inputs are float32: a noise-only channel may round up to just above `noise`.
  const noiseTop = noise * (1 + 1e-6);
  const symbolTop = (1 + noise) * (1 + 1e-6);
  const canBeSymbol = (v: number): boolean => v >= 1 && v <= symbolTop;
  let forced = -1;
  for (let c = 0; c < channels; c++) {
    if (inputs[offset + c]! <= noiseTop) continue;
    if (forced >= 0) return 0;
    forced = c;
  }
  if (forced >= 0) {
    if (!canBeSymbol(inputs[offset + forced]!)) return 0;
    out[0] = forced;
    return 1;
  }
  let count = 0;
  out[count++] = BLANK;
  for (let c = 0; c < channels; c++) if (canBeSymbol(inputs[offset + c]!)) out[count++] = c;
  return count;
}

/**
 * The exact Bayes filter of a split's generator (docs/spec/TASKS.md §4.1): the posterior of the hidden state whose
 * evaluation window holds each step, given the inputs up to that step. It models the generator as it draws
 * (docs/spec/TASKS.md §2–§3): strings from the start states by the walk law conditioned on fitting in seqLenMax,
 * concatenated and cut at combinedLength; after symbol i ≥ gapStart a gap with probability gapProb whose steps follow
 * the split's duration law, blank or filled with distractors drawn uniformly from the state's forbidden symbols (none
 * → no gap); uniform noise on every channel. Work per step is linear in the hypotheses, which are at most the start
 * states while every step reads as one symbol (noise < 1, blank gaps: successors are unique per symbol, §1).
 */
export class HiddenStateFilter {
  private readonly grammar: Grammar;
  private readonly strings: StringSampler;
  private readonly seqLenMax: number;
  private readonly symbolsPerSample: number;
  private readonly gapStart: number;
  private readonly distractors: boolean;
  private readonly noise: number;
  /** [k] P(the gap after a symbol from gapStart on takes k steps), before a distractor gap is dropped. */
  private readonly gapLaw: Float64Array;
  /** [k] P(that gap takes ≥ k steps). */
  private readonly gapSurvival: Float64Array;
  /** [state * alphabetSize + symbol] P(state → its successor on symbol), as in Grammar.successors. */
  private readonly successorProbability: Float64Array;
  private readonly startWeight: Float64Array;
  private readonly readings: Int32Array;
  private current: Hypotheses;
  private next: Hypotheses;
  /** False when hypothesis keys would exceed 2^53 (huge samples, strings and grammars at once): no ceiling. */
  readonly exact: boolean;

  constructor(generator: SampleGenerator, split: Split) {
    const grammar = generator.grammar;
    this.grammar = grammar;
    this.strings = generator.strings;
    this.seqLenMax = generator.options.seqLenMax;
    this.symbolsPerSample = generator.length;
    this.distractors = generator.options.distractors;
    this.noise = generator.options.noise;
    const schedule = generator.options.gaps[split];
    this.gapStart = schedule.gapStart;
    const drawn = schedule.drawnStepsLaw();
    this.gapLaw = drawn.map((p) => schedule.gapProb * p);
    this.gapLaw[0]! += 1 - schedule.gapProb;
    this.gapSurvival = new Float64Array(drawn.length + 1);
    for (let k = drawn.length - 1; k >= 0; k--) this.gapSurvival[k] = this.gapSurvival[k + 1]! + this.gapLaw[k]!;

    const alphabet = grammar.alphabetSize;
    this.successorProbability = new Float64Array(grammar.numStates * alphabet);
    for (let s = 0; s < grammar.numStates; s++) {
      for (let e = grammar.edgeOffsets[s]!; e < grammar.edgeOffsets[s + 1]!; e++) {
        this.successorProbability[s * alphabet + grammar.stateSymbols[grammar.edgeTargets[e]!]!] = grammar.edgeProbabilities[e]!;
      }
    }
    // §2: a string starts at start state s0 with weight P(a walk from s0 fits in seqLenMax).
    const starts = grammar.startStates;
    this.startWeight = Float64Array.from(starts, (s) => this.strings.fitsWithin(this.seqLenMax, s));
    const startTotal = this.startWeight.reduce((a, w) => a + w, 0);
    this.startWeight.forEach((w, j) => (this.startWeight[j] = w / startTotal));

    this.readings = new Int32Array(alphabet + 1);
    const keyScale = { states: grammar.numStates, positions: this.seqLenMax, gaps: drawn.length };
    this.exact = keyScale.states * keyScale.positions * keyScale.gaps * this.symbolsPerSample <= Number.MAX_SAFE_INTEGER;
    this.current = new Hypotheses(keyScale);
    this.next = new Hypotheses(keyScale);
  }

  /**
   * Filters sample `b` of `batch` (a batch of this split), calling `visit` with the posterior of every real step.
   * Returns false when the hypotheses outgrow MAX_HYPOTHESES (the filter stops there).
   */
  filterSample(batch: Batch, b: number, visit: PosteriorVisitor): boolean {
    const { steps, inputSize } = batch;
    this.current.clear();
    for (let t = 0; t < steps && batch.windows[b * steps + t]! >= 0; t++) {
      const count = readingsOf(batch.inputs, (b * steps + t) * inputSize, inputSize, this.noise, this.readings);
      this.next.clear();
      if (t === 0) for (let r = 0; r < count; r++) this.startString(0, 1, this.readings[r]!);
      else for (let k = 0; k < this.current.count; k++) this.advance(k, count);
      [this.current, this.next] = [this.next, this.current];
      if (this.current.normalise() === 0) {
        throw new Error(`ceiling: step ${t} of sample ${b} of the batch has no explanation under the task's generator`);
      }
      if (this.current.count > MAX_HYPOTHESES) return false;
      visit(t, this.current.state, this.current.weight, this.current.count);
    }
    return true;
  }

  /** Symbol `symbol` of the sample reads `a` and starts a new string (§2: start states weighted by fitting). */
  private startString(symbol: number, weight: number, a: number): void {
    const { startStates, stateSymbols } = this.grammar;
    for (let j = 0; j < startStates.length; j++) {
      const s = startStates[j]!;
      if (stateSymbols[s] === a) this.next.add(s, 0, symbol, 0, weight * this.startWeight[j]!);
    }
  }

  /** Moves hypothesis k one step on: the gap after its symbol goes on, or the next symbol comes. */
  private advance(k: number, readings: number): void {
    const h = this.current;
    const s = h.state[k]!;
    const n = h.position[k]!;
    const i = h.symbol[k]!;
    const g = h.gap[k]!;
    const w = h.weight[k]!;
    const { alphabetSize, violationOffsets } = this.grammar;
    const forbidden = violationOffsets[s + 1]! - violationOffsets[s]!;
    // §3: no gap before gapStart, nor where a distractor gap finds no forbidden symbol.
    const mayGap = i >= this.gapStart && !(this.distractors && forbidden === 0);
    const goesOn = mayGap ? this.gapSurvival[g + 1]! / this.gapSurvival[g]! : 0;
    const ends = mayGap ? this.gapLaw[g]! / this.gapSurvival[g]! : g === 0 ? 1 : 0;
    const last = i + 1 >= this.symbolsPerSample;
    for (let r = 0; r < readings; r++) {
      const a = this.readings[r]!;
      if (goesOn > 0) {
        if (a === BLANK && !this.distractors) this.next.add(s, n, i, g + 1, w * goesOn);
        else if (a !== BLANK && this.distractors && this.grammar.successor(s, a) === -1) {
          this.next.add(s, n, i, g + 1, (w * goesOn) / forbidden);
        }
      }
      if (ends === 0 || last || a === BLANK) continue;
      if (s === END_ID) {
        this.startString(i + 1, w * ends, a);
        continue;
      }
      const t = this.grammar.successor(s, a);
      if (t < 0) continue;
      // §2: the walk law conditioned on fitting: P(s → t) · fits(rest, t) / fits(rest + 1, s).
      const rest = this.seqLenMax - n - 1;
      const p =
        (this.successorProbability[s * alphabetSize + a]! * this.strings.fitsWithin(rest, t)) / this.strings.fitsWithin(rest + 1, s);
      this.next.add(t, n + 1, i + 1, 0, w * ends * p);
    }
  }
}

/** Per-class sums of the posteriors over one evaluation window (docs/spec/TASKS.md §4), touching only visited classes. */
class WindowSums {
  private readonly sums: Float64Array;
  private readonly touched: Int32Array;
  private size = 0;

  constructor(numClasses: number) {
    this.sums = new Float64Array(numClasses);
    this.touched = new Int32Array(numClasses);
  }

  add(classes: Int32Array, probabilities: Float64Array, count: number): void {
    for (let k = 0; k < count; k++) {
      const c = classes[k]!;
      if (this.sums[c] === 0) this.touched[this.size++] = c;
      this.sums[c]! += probabilities[k]!;
    }
  }

  /**
   * The class with the largest sum, the lowest class on ties (as tf.argMax); then empties the sums. Sums within
   * TIE_TOLERANCE of the largest count as ties: exact ties (symmetric hypotheses) come out of float arithmetic a few
   * ulps apart.
   */
  takeArgmax(): number {
    let largest = 0;
    for (let k = 0; k < this.size; k++) largest = Math.max(largest, this.sums[this.touched[k]!]!);
    let best = -1;
    for (let k = 0; k < this.size; k++) {
      const c = this.touched[k]!;
      if (this.sums[c]! >= largest * (1 - TIE_TOLERANCE) && (best < 0 || c < best)) best = c;
    }
    for (let k = 0; k < this.size; k++) this.sums[this.touched[k]!] = 0;
    this.size = 0;
    return best;
  }
}

/** Symbols the Bayes predictor gets right, and symbols scored. */
export interface CeilingCounts {
  readonly correct: number;
  readonly total: number;
}

/**
 * The ceiling's counts on samples 0 .. count-1 of `split` (docs/spec/TASKS.md §4.1): the filter's causal posterior
 * at every step, scored by the window rule of §4 (core's `windowAccuracyCounts`: the posteriors summed over each
 * symbol's window, the argmax against its class). Undefined where the filter cannot stay exact (more than
 * MAX_HYPOTHESES hypotheses, or hypothesis keys beyond 2^53).
 */
export function ceilingCounts(generator: SampleGenerator, split: Split, count: number): CeilingCounts | undefined {
  const filter = new HiddenStateFilter(generator, split);
  if (!filter.exact) return undefined;
  const sums = new WindowSums(generator.grammar.numStates);
  let correct = 0;
  let total = 0;
  for (let start = 0; start < count; start += SAMPLES_PER_PASS) {
    const batch = generator.batch(split, start, Math.min(SAMPLES_PER_PASS, count - start));
    const { steps, maxSymbols, windows, symbolTargets } = batch;
    for (let b = 0; b < batch.size; b++) {
      let window = -1;
      const score = (): void => {
        const target = symbolTargets[b * maxSymbols + window]!;
        const predicted = sums.takeArgmax();
        if (target < 0) return;
        total++;
        if (predicted === target) correct++;
      };
      const exact = filter.filterSample(batch, b, (t, classes, probabilities, n) => {
        const w = windows[b * steps + t]!;
        if (w !== window && window >= 0) score();
        window = w;
        sums.add(classes, probabilities, n);
      });
      if (!exact) return undefined;
      if (window >= 0) score();
    }
  }
  return { correct, total };
}
