import { Rng, type Batch, type Split } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { generateGrammar, grammarRng } from "../grammar/generate.js";
import { Grammar } from "../grammar/grammar.js";
import { GapSchedule, toSteps } from "./gaps.js";
import { SampleGenerator, type SampleOptions } from "./generator.js";
import { StringSampler } from "./strings.js";

const grammar = generateGrammar(
  { alphabetSize: 7, ambiguities: 6, ambiguityDepth: 6, initialStates: 4, transitionDensity: 0.4 },
  grammarRng(2),
);
const blankEveryStep = new GapSchedule({ gapStart: 0, gapProb: 1, gapMin: 0.1, gapMax: 0.1 });

function generator(options: Partial<SampleOptions> = {}, g: Grammar = grammar): SampleGenerator {
  return new SampleGenerator(g, {
    seed: 7,
    combinedLength: 150,
    seqLenMax: 40,
    gaps: { train: blankEveryStep, test: blankEveryStep },
    distractors: false,
    noise: 0,
    ...options,
  });
}

/** Plain rejection sampling as the reference does it: walk, redraw when longer than seqLenMax. */
function rejectionString(g: Grammar, rng: Rng, seqLenMax: number): number[] {
  for (;;) {
    let s = g.startStates[rng.int(g.startStates.length)]!;
    const out = [s];
    while (s !== 0 && out.length <= seqLenMax) {
      const u = rng.next();
      let e = g.edgeOffsets[s]!;
      let acc = g.edgeProbabilities[e]!;
      while (acc <= u && e < g.edgeOffsets[s + 1]! - 1) acc += g.edgeProbabilities[++e]!;
      s = g.edgeTargets[e]!;
      out.push(s);
    }
    if (s === 0 && out.length <= seqLenMax) return out;
  }
}

function stepsOf(batch: Batch, b: number): number {
  let n = 0;
  for (let t = 0; t < batch.steps; t++) n += batch.mask[b * batch.steps + t]!;
  return n;
}

describe("strings (docs/spec/TASKS.md §2)", () => {
  it("follow the law of rejection sampling: same length distribution and first states", () => {
    const seqLenMax = 12;
    const sampler = new StringSampler(grammar, seqLenMax);
    const draws = 40_000;
    const ours = new Float64Array(seqLenMax + 1);
    const theirs = new Float64Array(seqLenMax + 1);
    const oursStart = new Map<number, number>();
    const theirsStart = new Map<number, number>();
    const buffer = new Uint16Array(seqLenMax);
    const rngA = new Rng(1);
    const rngB = new Rng(2);
    for (let i = 0; i < draws; i++) {
      const n = sampler.drawInto(rngA, buffer, 0);
      ours[n]!++;
      oursStart.set(buffer[0]!, (oursStart.get(buffer[0]!) ?? 0) + 1);
      const s = rejectionString(grammar, rngB, seqLenMax);
      theirs[s.length]!++;
      theirsStart.set(s[0]!, (theirsStart.get(s[0]!) ?? 0) + 1);
    }
    let tv = 0;
    for (let n = 0; n <= seqLenMax; n++) tv += Math.abs(ours[n]! - theirs[n]!) / draws / 2;
    expect(tv).toBeLessThan(0.015);
    for (const s of grammar.startStates) {
      expect(Math.abs((oursStart.get(s) ?? 0) - (theirsStart.get(s) ?? 0)) / draws).toBeLessThan(0.015);
    }
    expect(ours[0]).toBe(0);
    expect(ours[1]).toBe(0);
  });

  it("report the probability that a walk fits, and refuse a seqLenMax almost no string fits", () => {
    const sampler = new StringSampler(grammar, 12);
    const rng = new Rng(3);
    let fit = 0;
    const walks = 20_000;
    for (let i = 0; i < walks; i++) {
      let s = grammar.startStates[rng.int(4)]!;
      let n = 1;
      while (s !== 0 && n <= 12) {
        const first = grammar.edgeOffsets[s]!;
        s = grammar.edgeTargets[first + rng.int(grammar.edgeOffsets[s + 1]! - first)]!;
        n++;
      }
      if (s === 0 && n <= 12) fit++;
    }
    expect(Math.abs(fit / walks - sampler.fitProbability)).toBeLessThan(0.015);
    const chain = Grammar.fromEdges({
      edges: [
        { source: "A", target: "B", probability: 1 },
        { source: "B", target: "B", probability: 0.99999 },
        { source: "B", target: "#", probability: 0.00001 },
      ],
      startStates: ["A"],
    });
    expect(() => new StringSampler(chain, 3)).toThrow(/^seqLenMax: got 3; only 1\.00e-5 of this grammar's strings fit/);
    expect(new StringSampler(chain, 3000).fitProbability).toBeGreaterThan(0.02);
    expect(() => new StringSampler(chain, 2)).toThrow(/^seqLenMax: got 2; only 0\.00e\+0 of this grammar's strings fit/);
  });
});

describe("samples (docs/spec/TASKS.md §2)", () => {
  const gen = generator();
  const set = gen.generate("train", 0, 60);
  const starts = new Set(grammar.startStates);

  it("hold combinedLength symbols: whole strings of the grammar, concatenated, the last one cut", () => {
    expect(set.symbols).toHaveLength(60 * 150);
    for (let n = 0; n < set.count; n++) {
      const classes = Array.from(set.classes.subarray(n * 150, (n + 1) * 150));
      expect(starts.has(classes[0]!)).toBe(true);
      let stringLength = 0;
      classes.forEach((c, i) => {
        expect(set.symbols[n * 150 + i]).toBe(grammar.stateSymbols[c]);
        stringLength++;
        if (c === 0) {
          expect(stringLength).toBeLessThanOrEqual(40);
          stringLength = 0;
        }
        if (i + 1 < classes.length) {
          const next = classes[i + 1]!;
          if (c === 0) expect(starts.has(next)).toBe(true);
          else expect(grammar.successor(c, grammar.stateSymbols[next]!)).toBe(next);
        }
      });
      expect(stringLength).toBeLessThanOrEqual(40);
    }
  });

  it("are pure functions of (seed, split, index): batching does not matter, splits are disjoint", () => {
    const again = generator().generate("train", 10, 5);
    expect(again.classes).toEqual(set.classes.subarray(10 * 150, 15 * 150));
    const test = gen.generate("test", 0, 60);
    let same = 0;
    for (let n = 0; n < 60; n++) {
      if (test.classes.subarray(n * 150, (n + 1) * 150).every((c, i) => c === set.classes[n * 150 + i])) same++;
    }
    expect(same).toBe(0);
    const otherSeed = generator({ seed: 8 }).generate("train", 0, 1);
    expect(otherSeed.classes).not.toEqual(set.classes.subarray(0, 150));
  });

  it("keep their symbols when only the gaps change", () => {
    const varied = new GapSchedule({ gapStart: 0, gapProb: 1, gapMin: 0.1, gapMax: 1 });
    const other = generator({ gaps: { train: varied, test: varied.withFixedGap(1) } }).generate("train", 0, 60);
    expect(other.classes).toEqual(set.classes);
    expect(other.gapSteps).not.toEqual(set.gapSteps);
  });
});

describe("time axis (docs/spec/TASKS.md §3)", () => {
  it("gap steps are round(10 d) with d in [gapMin, gapMax], or the fixed gap; none before gapStart", () => {
    expect([0.1, 0.2, 0.3, 0.5, 1, 2, 10].map(toSteps)).toEqual([1, 2, 3, 5, 10, 20, 100]);
    const schedule = new GapSchedule({ gapStart: 50, gapProb: 1, gapMin: 0.1, gapMax: 1 });
    const gen = generator({ gaps: { train: schedule, test: schedule.withFixedGap(1) } });
    const train = gen.generate("train", 0, 40);
    const seen = new Set<number>();
    let total = 0;
    for (let n = 0; n < 40; n++) {
      let steps = 150;
      for (let i = 0; i < 150; i++) {
        const g = train.gapSteps[n * 150 + i]!;
        steps += g;
        if (i < 50) expect(g).toBe(0);
        else {
          expect(g).toBeGreaterThanOrEqual(1);
          expect(g).toBeLessThanOrEqual(10);
          seen.add(g);
          total += g;
        }
      }
      expect(train.steps[n]).toBe(steps);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(total / (40 * 100)).toBeGreaterThan(5.3);
    expect(total / (40 * 100)).toBeLessThan(5.7);
    const test = gen.generate("test", 0, 10);
    for (let i = 0; i < test.gapSteps.length; i++) expect(test.gapSteps[i]).toBe(i % 150 < 50 ? 0 : 10);
  });

  it("gapProb is the share of symbols followed by a gap", () => {
    const schedule = new GapSchedule({ gapStart: 0, gapProb: 0.3, gapMin: 0.2, gapMax: 0.2 });
    const set = generator({ gaps: { train: schedule, test: schedule } }).generate("train", 0, 100);
    const gapped = set.gapSteps.filter((g) => g > 0);
    expect(new Set(gapped)).toEqual(new Set([2]));
    expect(Math.abs(gapped.length / set.gapSteps.length - 0.3)).toBeLessThan(0.02);
  });

  it("batches: one-hot symbols, blank gaps, targets held through gaps, windows, mask and padding", () => {
    const schedule = new GapSchedule({ gapStart: 3, gapProb: 0.5, gapMin: 0.1, gapMax: 0.6 });
    const gen = generator({ gaps: { train: schedule, test: schedule } });
    const set = gen.generate("train", 0, 8);
    const batch = gen.materialise(set);
    const F = grammar.alphabetSize;
    const T = Math.max(...set.steps);
    expect([batch.size, batch.steps, batch.inputSize, batch.maxSymbols]).toEqual([8, T, F, 150]);
    expect(batch.inputs).toHaveLength(8 * T * F);
    for (let b = 0; b < 8; b++) {
      let t = 0;
      for (let i = 0; i < 150; i++) {
        const cls = set.classes[b * 150 + i]!;
        expect(batch.symbolTargets[b * 150 + i]).toBe(cls);
        for (let k = 0; k <= set.gapSteps[b * 150 + i]!; k++, t++) {
          const row = Array.from(batch.inputs.subarray((b * T + t) * F, (b * T + t + 1) * F));
          const expected = new Array<number>(F).fill(0);
          if (k === 0) expected[set.symbols[b * 150 + i]!] = 1;
          expect(row).toEqual(expected);
          expect(batch.targets[b * T + t]).toBe(cls);
          expect(batch.windows[b * T + t]).toBe(i);
          expect(batch.mask[b * T + t]).toBe(1);
        }
      }
      expect(t).toBe(set.steps[b]);
      expect(stepsOf(batch, b)).toBe(set.steps[b]);
      for (; t < T; t++) {
        expect(batch.mask[b * T + t]).toBe(0);
        expect(batch.windows[b * T + t]).toBe(-1);
        expect(batch.targets[b * T + t]).toBe(0);
        expect(batch.inputs.subarray((b * T + t) * F, (b * T + t + 1) * F).every((x) => x === 0)).toBe(true);
      }
    }
  });

  it("noise: Uniform[0, 1) * noise on every entry of real steps, zero padding, independent of batching", () => {
    const schedule = new GapSchedule({ gapStart: 0, gapProb: 0.5, gapMin: 0.1, gapMax: 1 });
    const clean = generator({ gaps: { train: schedule, test: schedule } });
    const noisy = generator({ gaps: { train: schedule, test: schedule }, noise: 0.2 });
    const a = clean.batch("test", 0, 6);
    const b = noisy.batch("test", 0, 6);
    let sum = 0;
    let count = 0;
    let max = 0;
    for (let k = 0; k < b.inputs.length; k++) {
      const real = b.mask[Math.floor(k / b.inputSize)] === 1;
      const d = b.inputs[k]! - a.inputs[k]!;
      if (!real) expect(b.inputs[k]).toBe(0);
      else {
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(0.2 + 1e-6);
        sum += d;
        max = Math.max(max, d);
        count++;
      }
    }
    expect(Math.abs(sum / count - 0.1)).toBeLessThan(0.005);
    expect(max).toBeGreaterThan(0.19);
    const part = noisy.batch("test", 2, 3);
    const T = b.steps;
    const F = b.inputSize;
    for (let r = 0; r < 3; r++) {
      const steps = stepsOf(part, r);
      expect(part.inputs.subarray(r * part.steps * F, (r * part.steps + steps) * F)).toEqual(
        b.inputs.subarray((r + 2) * T * F, ((r + 2) * T + steps) * F),
      );
    }
  });

  it("distractors: every token violates the grammar from the current hidden state; no candidates → no gap", () => {
    const g = Grammar.fromEdges({
      edges: [
        { source: "A", target: "A", probability: 1 },
        { source: "A", target: "B", probability: 1 },
        { source: "A", target: "#", probability: 1 },
        { source: "B", target: "A", probability: 1 },
        { source: "B", target: "#", probability: 1 },
      ],
      startStates: ["A", "B"],
    });
    const schedule = new GapSchedule({ gapStart: 0, gapProb: 1, gapMin: 0.1, gapMax: 0.4 });
    const gen = generator({ gaps: { train: schedule, test: schedule }, distractors: true, combinedLength: 100 }, g);
    const set = gen.generate("train", 0, 30);
    const batch = gen.materialise(set);
    const tokensAfter = new Map<string, Set<number>>([
      ["#", new Set()],
      ["A", new Set()],
      ["B", new Set()],
    ]);
    for (let n = 0; n < 30; n++) {
      let token = set.distractorOffsets[n]!;
      let t = 0;
      for (let i = 0; i < 100; i++) {
        const state = set.classes[n * 100 + i]!;
        const gap = set.gapSteps[n * 100 + i]!;
        if (g.stateNames[state] === "A") expect(gap).toBe(0);
        else expect(gap).toBeGreaterThanOrEqual(1);
        t++;
        for (let k = 0; k < gap; k++, t++) {
          const symbol = set.distractorTokens[token++]!;
          expect(g.successor(state, symbol)).toBe(-1);
          tokensAfter.get(g.stateNames[state]!)!.add(symbol);
          const row = batch.inputs.subarray((n * batch.steps + t) * 3, (n * batch.steps + t + 1) * 3);
          expect(Array.from(row)).toEqual([0, 1, 2].map((a) => (a === symbol ? 1 : 0)));
        }
      }
      expect(token).toBe(set.distractorOffsets[n + 1]);
    }
    expect(tokensAfter.get("B")).toEqual(new Set([2]));
    expect(tokensAfter.get("#")).toEqual(new Set([0, 1, 2]));
  });

  it("distractors on the paper-like grammar: all tokens violate the grammar and stay deterministic", () => {
    const schedule = new GapSchedule({ gapStart: 50, gapProb: 0.1, gapMin: 0.1, gapMax: 0.1 });
    const options = { gaps: { train: schedule, test: schedule }, distractors: true };
    const set = generator(options).generate("test", 0, 50);
    let token = 0;
    for (let i = 0; i < set.gapSteps.length; i++) {
      for (let k = 0; k < set.gapSteps[i]!; k++) expect(grammar.successor(set.classes[i]!, set.distractorTokens[token++]!)).toBe(-1);
    }
    expect(token).toBe(set.distractorTokens.length);
    expect(token).toBeGreaterThan(400);
    expect(generator(options).generate("test", 0, 50).distractorTokens).toEqual(set.distractorTokens);
  });
});

describe("splits", () => {
  it("train and test draw from different streams", () => {
    const gen = generator();
    const classes = (split: Split) => gen.generate(split, 3, 1).classes;
    expect(classes("train")).not.toEqual(classes("test"));
    expect(classes("train")).toEqual(generator().generate("train", 3, 1).classes);
  });
});
