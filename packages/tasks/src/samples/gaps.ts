import { SelectivError, type Rng } from "@selectiv/core";

/**
 * Longest gap in seconds: its step count (10 per second) must fit the 16-bit gap buffers (SampleSet.gapSteps). The
 * reference has no limit; its Task 4 tests up to 10 s. Evaluation batches shrink with the sample length
 * (core's EVAL_TOKEN_BUDGET), so long test gaps cost time, not batch memory (docs/spec/TASKS.md §3).
 */
export const MAX_GAP_SECONDS = 6553;

export interface GapScheduleOptions {
  /** Symbols 0 .. gapStart-1 are never followed by a gap. */
  readonly gapStart: number;
  /** Probability that a symbol from gapStart on is followed by a gap. */
  readonly gapProb: number;
  /** Gap duration range in seconds, d ~ Uniform(gapMin, gapMax). */
  readonly gapMin: number;
  readonly gapMax: number;
  /** A duration that replaces the draw (a split with a fixed gap); undefined = draw. */
  readonly fixedGap?: number;
}

/**
 * When and how long the gaps after symbols are (docs/spec/TASKS.md §3). Durations are rounded to 0.1 s, and a gap of d
 * seconds takes round(10 d) steps, so a gap is counted in tenths of a second = steps.
 */
export class GapSchedule {
  readonly gapStart: number;
  readonly gapProb: number;
  readonly gapMin: number;
  readonly gapMax: number;
  readonly fixedGap: number | undefined;
  /** Most steps one gap can take. */
  readonly maxSteps: number;

  constructor(options: GapScheduleOptions) {
    const { gapStart, gapProb, gapMin, gapMax, fixedGap } = options;
    const seconds = (name: string, v: number): void => {
      if (!(Number.isFinite(v) && v >= 0 && v <= MAX_GAP_SECONDS)) {
        throw new SelectivError(`${name}: got ${v}; expected a duration in seconds in [0, ${MAX_GAP_SECONDS}]`);
      }
    };
    if (!(Number.isInteger(gapStart) && gapStart >= 0)) throw new SelectivError(`gapStart: got ${gapStart}; expected an integer ≥ 0`);
    if (!(gapProb >= 0 && gapProb <= 1)) throw new SelectivError(`gapProb: got ${gapProb}; expected a probability in [0, 1]`);
    seconds("gapMin", gapMin);
    seconds("gapMax", gapMax);
    if (gapMin > gapMax) throw new SelectivError(`gapMin: got ${gapMin}; expected ≤ gapMax (${gapMax})`);
    if (fixedGap !== undefined) seconds("testGap", fixedGap);
    this.gapStart = gapStart;
    this.gapProb = gapProb;
    this.gapMin = gapMin;
    this.gapMax = gapMax;
    this.fixedGap = fixedGap;
    this.maxSteps = gapProb === 0 ? 0 : fixedGap !== undefined ? toSteps(fixedGap) : toSteps(gapMax);
  }

  /** The same schedule with every gap's duration fixed at `seconds`. */
  withFixedGap(seconds: number): GapSchedule {
    return new GapSchedule({ ...this, fixedGap: seconds });
  }

  /**
   * The law of a drawn gap's step count (once the gap is decided, docs/spec/TASKS.md §3): [k] = P(round(10 d) = k),
   * k = 0 .. the longest gap, for the fixed duration or d ~ Uniform(gapMin, gapMax) (exact up to the generator's
   * 2^-32 resolution).
   */
  drawnStepsLaw(): Float64Array {
    const fixed = this.fixedGap ?? (this.gapMin === this.gapMax ? this.gapMin : undefined);
    if (fixed !== undefined) {
      const law = new Float64Array(toSteps(fixed) + 1);
      law[toSteps(fixed)] = 1;
      return law;
    }
    const law = new Float64Array(toSteps(this.gapMax) + 1);
    // round(10 d) = k exactly for d in [(k − 0.5) / 10, (k + 0.5) / 10).
    for (let k = 0; k < law.length; k++) {
      const overlap = Math.min(this.gapMax, (k + 0.5) / 10) - Math.max(this.gapMin, (k - 0.5) / 10);
      law[k] = Math.max(0, overlap) / (this.gapMax - this.gapMin);
    }
    return law;
  }

  /** Steps of the gap after symbol `i` (0-based within the sample). */
  stepsAfter(i: number, rng: Rng): number {
    if (i < this.gapStart) return 0;
    if (this.gapProb < 1 && rng.next() >= this.gapProb) return 0;
    if (this.fixedGap !== undefined) return toSteps(this.fixedGap);
    if (this.gapMin === this.gapMax) return toSteps(this.gapMin);
    return toSteps(rng.uniform(this.gapMin, this.gapMax));
  }
}

/** round(10 d): steps of a gap of d seconds, d rounded to one decimal (docs/spec/TASKS.md §3). */
export function toSteps(seconds: number): number {
  return Math.round(seconds * 10);
}
