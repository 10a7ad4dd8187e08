import { Rng, SelectivError, type Batch, type Split } from "@selectiv/core";
import type { Grammar } from "../grammar/grammar.js";
import type { GapSchedule } from "./gaps.js";
import { StringSampler } from "./strings.js";

export interface SampleOptions {
  /** The run seed; with (split, index) it fixes every random draw of a sample (docs/spec/TASKS.md §7). */
  readonly seed: number;
  /** Symbols per sample (docs/spec/TASKS.md §2). */
  readonly combinedLength: number;
  /** Longest string kept (docs/spec/TASKS.md §2). */
  readonly seqLenMax: number;
  readonly gaps: Readonly<Record<Split, GapSchedule>>;
  /** Fill gaps with grammar-violating tokens instead of blank steps (docs/spec/TASKS.md §3, the reference's grammar_gap). */
  readonly distractors: boolean;
  /** Uniform[0, 1) * noise is added to every input entry (docs/spec/TASKS.md §3). */
  readonly noise: number;
}

/**
 * Samples start .. start+count-1 of a split as symbol sequences and gap arrays (everything but the one-hot
 * inputs and the noise). Arrays indexed [sample * length + symbol] unless noted.
 */
export interface SampleSet {
  readonly split: Split;
  readonly start: number;
  readonly count: number;
  /** Symbols per sample (combinedLength). */
  readonly length: number;
  /** Observed symbol ids. */
  readonly symbols: Uint8Array;
  /** Hidden-state class ids: the targets. */
  readonly classes: Uint16Array;
  /**
   * [count] the hidden state that follows each sample's last symbol in its random walk (the sample is cut from a
   * longer walk), or -1 where none was drawn (the sample ends with `#`) or is unknown (stored sequences).
   */
  readonly nextClasses: Int32Array;
  /** Steps of the gap after each symbol (at most 10 × MAX_GAP_SECONDS). */
  readonly gapSteps: Uint16Array;
  /** [count] time steps of each sample: symbols plus gap steps. */
  readonly steps: Int32Array;
  /** [count + 1] where each sample's distractor tokens start in distractorTokens (all zero without distractors). */
  readonly distractorOffsets: Int32Array;
  /** Distractor tokens of all gaps, in time order. */
  readonly distractorTokens: Uint8Array;
}

/**
 * Fixed hidden-state sequences that replace the random strings (a dataset read from disk): sample i of a split is
 * row i, combinedLength class ids long.
 */
export interface FixedClassSequences {
  readonly train: Uint16Array;
  readonly test: Uint16Array;
}

/**
 * Generates the samples of a grammar task (docs/spec/TASKS.md §2–§3); sample i of a split depends only on (options, split, i).
 * With `fixed` sequences, the hidden states come from them and only the time axis (gaps, distractors, noise) is drawn.
 */
export class SampleGenerator {
  readonly strings: StringSampler;
  private readonly walk: Uint16Array;

  constructor(
    readonly grammar: Grammar,
    readonly options: SampleOptions,
    private readonly fixed?: FixedClassSequences,
  ) {
    if (!(Number.isInteger(options.combinedLength) && options.combinedLength >= 1)) {
      throw new SelectivError(`combinedLength: got ${options.combinedLength}; expected an integer ≥ 1`);
    }
    if (!(Number.isFinite(options.noise) && options.noise >= 0)) {
      throw new SelectivError(`noise: got ${options.noise}; expected a number ≥ 0`);
    }
    this.strings = new StringSampler(grammar, options.seqLenMax);
    this.walk = new Uint16Array(options.combinedLength + options.seqLenMax);
  }

  get length(): number {
    return this.options.combinedLength;
  }

  /** The generator of one random stream of one sample (§7: train and test streams are disjoint). */
  sampleRng(split: Split, index: number, stream: "symbols" | "gaps" | "distractors" | "noise"): Rng {
    return Rng.from("selectiv.sample", this.options.seed, split, index, stream);
  }

  /**
   * Class ids of sample `index`: whole strings concatenated until at least combinedLength symbols, then cut
   * (docs/spec/TASKS.md §2). Writes combinedLength entries into `out` from `offset`. Returns the state that follows the cut in
   * the walk, or -1 where the walk ends at the cut (its last symbol is `#`) or the sequence is stored.
   */
  classesInto(split: Split, index: number, out: Uint16Array, offset: number): number {
    const length = this.options.combinedLength;
    if (this.fixed) {
      const rows = this.fixed[split];
      if (!((index + 1) * length <= rows.length))
        throw new RangeError(`sample ${index} is outside the ${rows.length / length} ${split} samples`);
      out.set(rows.subarray(index * length, (index + 1) * length), offset);
      return -1;
    }
    const rng = this.sampleRng(split, index, "symbols");
    let filled = 0;
    while (filled < length) filled += this.strings.drawInto(rng, this.walk, filled);
    out.set(this.walk.subarray(0, length), offset);
    return filled > length ? this.walk[length]! : -1;
  }

  generate(split: Split, start: number, count: number): SampleSet {
    const length = this.options.combinedLength;
    const schedule = this.options.gaps[split];
    const { stateSymbols, violationOffsets, violationSymbols } = this.grammar;
    const symbols = new Uint8Array(count * length);
    const classes = new Uint16Array(count * length);
    const nextClasses = new Int32Array(count);
    const gapSteps = new Uint16Array(count * length);
    const steps = new Int32Array(count);
    const distractorOffsets = new Int32Array(count + 1);
    // A first guess (an eighth of the most distractor steps, at most 1 MiB); it grows when a sample needs more.
    const guess = Math.max(16, Math.min(2 ** 20, Math.floor((count * length * schedule.maxSteps) / 8)));
    let distractorTokens = new Uint8Array(this.options.distractors ? guess : 0);
    let tokens = 0;

    for (let n = 0; n < count; n++) {
      const base = n * length;
      nextClasses[n] = this.classesInto(split, start + n, classes, base);
      for (let i = base; i < base + length; i++) symbols[i] = stateSymbols[classes[i]!]!;
      const gapRng = this.sampleRng(split, start + n, "gaps");
      const distractorRng = this.options.distractors ? this.sampleRng(split, start + n, "distractors") : undefined;
      let total = length;
      for (let i = 0; i < length; i++) {
        let gap = schedule.stepsAfter(i, gapRng);
        if (gap > 0 && distractorRng) {
          // §3: tokens with no edge from the current hidden state; none → empty gap.
          const state = classes[base + i]!;
          const first = violationOffsets[state]!;
          const choices = violationOffsets[state + 1]! - first;
          if (choices === 0) gap = 0;
          if (tokens + gap > distractorTokens.length) {
            const grown = new Uint8Array(Math.max(2 * distractorTokens.length, tokens + gap));
            grown.set(distractorTokens);
            distractorTokens = grown;
          }
          for (let k = 0; k < gap; k++) distractorTokens[tokens++] = violationSymbols[first + Math.floor(distractorRng.next() * choices)]!;
        }
        gapSteps[base + i] = gap;
        total += gap;
      }
      steps[n] = total;
      distractorOffsets[n + 1] = tokens;
    }
    return {
      split,
      start,
      count,
      length,
      symbols,
      classes,
      nextClasses,
      gapSteps,
      steps,
      distractorOffsets,
      distractorTokens: distractorTokens.subarray(0, tokens),
    };
  }

  /**
   * One-hot inputs, per-step targets, mask and evaluation windows (docs/spec/TASKS.md §3) of samples first .. first+count-1
   * of `set`, padded to the longest. Noise is added to every real step (padding stays zero).
   */
  materialise(set: SampleSet, first = 0, count = set.count - first): Batch {
    const F = this.grammar.alphabetSize;
    const L = set.length;
    let T = 0;
    for (let n = first; n < first + count; n++) T = Math.max(T, set.steps[n]!);
    const inputs = new Float32Array(count * T * F);
    const targets = new Int32Array(count * T);
    const mask = new Float32Array(count * T);
    const windows = new Int32Array(count * T).fill(-1);
    const symbolTargets = new Int32Array(count * L);
    const distracted = this.options.distractors;
    const noise = this.options.noise;

    for (let b = 0; b < count; b++) {
      const n = first + b;
      const base = n * L;
      let token = set.distractorOffsets[n]!;
      let t = b * T;
      for (let i = 0; i < L; i++) {
        const target = set.classes[base + i]!;
        symbolTargets[b * L + i] = target;
        inputs[t * F + set.symbols[base + i]!] = 1;
        targets[t] = target;
        mask[t] = 1;
        windows[t++] = i;
        const gap = set.gapSteps[base + i]!;
        for (let k = 0; k < gap; k++) {
          if (distracted) inputs[t * F + set.distractorTokens[token++]!] = 1;
          targets[t] = target;
          mask[t] = 1;
          windows[t++] = i;
        }
      }
      if (noise > 0) {
        const rng = this.sampleRng(set.split, set.start + n, "noise");
        const end = (b * T + set.steps[n]!) * F;
        for (let k = b * T * F; k < end; k++) inputs[k]! += rng.next() * noise;
      }
    }
    return { size: count, steps: T, inputSize: F, maxSymbols: L, inputs, targets, mask, windows, symbolTargets };
  }

  /** Samples start .. start+count-1 of `split` as one padded batch. */
  batch(split: Split, start: number, count: number): Batch {
    return this.materialise(this.generate(split, start, count));
  }
}
