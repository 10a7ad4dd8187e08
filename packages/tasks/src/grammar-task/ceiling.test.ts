import "reflect-metadata";
import { majorityClassOf, resolveConfig, tf, windowAccuracyCounts, type Batch, type TaskDefinition } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { Grammar } from "../grammar/grammar.js";
import { task1Definition } from "../task1/definition.js";
import { task2Definition } from "../task2/definition.js";
import { task3Definition } from "../task3/definition.js";
import { task4Definition } from "../task4/definition.js";
import { HiddenStateFilter, ceilingCounts } from "./ceiling.js";
import type { GrammarTaskConfig, TimeAxisConfig } from "./config.js";
import { GrammarTaskInstance, grammarSampleGenerator } from "./instance.js";

/**
 * A hand-made grammar over #, A, B, C with one ambiguous letter A (states A0, A1). Class ids (docs/spec/TASKS.md §2):
 * # 0, A0 1, A1 2, B 3, C 4. A0 → A1 (1/4) or B (3/4); A1 → A0 (1/2) or C (1/2); B → #; C → #.
 */
const [END, A0, A1, B, C] = [0, 1, 2, 3, 4];
function handGrammar(startStates: string[]): Grammar {
  return Grammar.fromEdges({
    edges: [
      { source: "A0", target: "A1", probability: 0.25 },
      { source: "A0", target: "B", probability: 0.75 },
      { source: "A1", target: "A0", probability: 0.5 },
      { source: "A1", target: "C", probability: 0.5 },
      { source: "B", target: "#", probability: 1 },
      { source: "C", target: "#", probability: 1 },
    ],
    startStates,
    alphabetSize: 4,
  });
}

/** Task 1's time axis (docs/spec/TASKS.md §5): one blank step after every symbol, no noise. */
const { gapStart, gapProb, gapMin, gapMax, testGap, noise, distractors } = task1Definition.presets.paper as TimeAxisConfig;
const ONE_BLANK_STEP: TimeAxisConfig = { gapStart, gapProb, gapMin, gapMax, testGap, noise, distractors };

/** A task serving the given hidden-state rows (as a dataset read from disk) with the given time axis. */
function handTask(grammar: Grammar, rows: number[][], seqLenMax: number, timeAxis: TimeAxisConfig): GrammarTaskInstance {
  const classes = Uint16Array.from(rows.flat());
  const lengths = { combinedLength: rows[0]!.length, seqLenMax };
  const { generator, identity } = grammarSampleGenerator(grammar, { hand: 1 }, 1, lengths, timeAxis, { train: classes, test: classes });
  return new GrammarTaskInstance(grammar, generator, { train: rows.length, test: rows.length }, identity);
}

/** The filter's posterior at every step of sample `index` of the test split, as class → probability. */
function posteriors(task: GrammarTaskInstance, index: number, batch = task.generator.batch("test", index, 1)): Map<number, number>[] {
  const out: Map<number, number>[] = [];
  new HiddenStateFilter(task.generator, "test").filterSample(batch, 0, (_t, classes, probabilities, count) => {
    const m = new Map<number, number>();
    for (let k = 0; k < count; k++) m.set(classes[k]!, (m.get(classes[k]!) ?? 0) + probabilities[k]!);
    out.push(m);
  });
  return out;
}

function expectPosterior(actual: Map<number, number> | undefined, expected: Record<number, number>): void {
  const entries = [...actual!.entries()].filter(([, p]) => p > 1e-15).sort((a, b) => a[0] - b[0]);
  expect(entries.map(([c]) => c)).toEqual(Object.keys(expected).map(Number));
  for (const [c, p] of entries) expect(p).toBeCloseTo(expected[c]!, 12);
}

describe("the ceiling's Bayes filter on a hand-made grammar (docs/spec/TASKS.md §4.1)", () => {
  // Every string here is far shorter than seqLenMax 60, so the walk law is the plain one (fits = 1).
  const rows = [
    [A0, B, END, A1, C, END],
    [A0, A1, A0, B, END, A1],
    [A1, A0, B, END, A0, B],
  ];

  it("gives the hand-computed posteriors and window accuracy", () => {
    const task = handTask(handGrammar(["A0", "A1"]), rows, 60, ONE_BLANK_STEP);
    // By hand. The first A of a string: A0 or A1, 1/2 each (a tie: the lowest class, A0). Sample 2, "A A A B # A":
    // second A: A0→A1 has 1/2 · 1/4 = 1/8, A1→A0 has 1/2 · 1/2 = 1/4, so A0 2/3, A1 1/3 (predict A0, truth A1);
    // third A: A1→A0 1/8 · 1/2 = 1/16, A0→A1 1/4 · 1/4 = 1/16: a tie again (predict A0, truth A0). B, C, # are sure.
    const steps = posteriors(task, 1);
    expect(steps).toHaveLength(12);
    expectPosterior(steps[0], { [A0]: 1 / 2, [A1]: 1 / 2 });
    expectPosterior(steps[2], { [A0]: 2 / 3, [A1]: 1 / 3 });
    expectPosterior(steps[3], { [A0]: 2 / 3, [A1]: 1 / 3 }); // the blank step of the same window
    expectPosterior(steps[4], { [A0]: 1 / 2, [A1]: 1 / 2 });
    expectPosterior(steps[6], { [B]: 1 });
    expectPosterior(steps[10], { [A0]: 1 / 2, [A1]: 1 / 2 });
    // Right per symbol: sample 1 A0 ✓ B ✓ # ✓ A1 ✗ C ✓ # ✓ (5); sample 2 ✓ ✗ ✓ ✓ ✓ ✗ (4); sample 3 A1 ✗, then A0 (2/3) ✓,
    // B ✓, # ✓, A0 ✓, B ✓ (5): 14 of 18.
    expect(ceilingCounts(task.generator, "test", 3)).toEqual({ correct: 14, total: 18 });
    expect(task.ceiling("test")).toBe(14 / 18);
  });

  it("weights start states by the chance that their walk fits in seqLenMax (docs/spec/TASKS.md §2)", () => {
    // seqLenMax 3: of the walks only A0 B # (3/4) and A1 C # (1/2) fit, so a first A is A0 with 3/4 / (3/4 + 1/2) = 3/5.
    const task = handTask(handGrammar(["A0", "A1"]), [rows[0]!], 3, ONE_BLANK_STEP);
    const steps = posteriors(task, 0);
    expectPosterior(steps[0], { [A0]: 3 / 5, [A1]: 2 / 5 });
    expectPosterior(steps[6], { [A0]: 3 / 5, [A1]: 2 / 5 });
    expect(ceilingCounts(task.generator, "test", 1)).toEqual({ correct: 5, total: 6 });
  });
});

/** One outcome of the generator for a sample: its time steps' tokens (-1 = blank step) and targets, and its probability. */
interface Outcome {
  readonly tokens: number[];
  readonly targets: number[];
  readonly probability: number;
}

/**
 * Every outcome of the generator of `grammar` for samples of `length` symbols, enumerated by brute force from
 * docs/spec/TASKS.md §2–§3 as the reference states it: strings by rejection (a uniform start, the plain walk,
 * walks longer than seqLenMax thrown away), concatenated and cut; gaps of 1 or 2 steps (1/2 each) with probability
 * gapProb after symbols from gapStart on, blank or filled with uniform forbidden symbols (none: no gap).
 */
function enumerateOutcomes(grammar: Grammar, length: number, seqLenMax: number, gapStart: number, gapProb: number, distractors: boolean) {
  const strings: { states: number[]; probability: number }[] = [];
  const walk = (states: number[], probability: number): void => {
    if (states.length > seqLenMax) return;
    const s = states.at(-1)!;
    if (s === END) return void strings.push({ states, probability });
    for (let e = grammar.edgeOffsets[s]!; e < grammar.edgeOffsets[s + 1]!; e++) {
      walk([...states, grammar.edgeTargets[e]!], probability * grammar.edgeProbabilities[e]!);
    }
  };
  for (const s of grammar.startStates) walk([s], 1 / grammar.startStates.length);
  const fitting = strings.reduce((a, w) => a + w.probability, 0);
  const samples: { states: number[]; probability: number }[] = [];
  const concatenate = (states: number[], probability: number): void => {
    if (states.length >= length) return void samples.push({ states: states.slice(0, length), probability });
    for (const w of strings) concatenate([...states, ...w.states], (probability * w.probability) / fitting);
  };
  concatenate([], 1);

  const outcomes: Outcome[] = [];
  const forbidden = (s: number): number[] => [...Array(grammar.alphabetSize).keys()].filter((a) => grammar.successor(s, a) === -1);
  const fill = (states: number[], i: number, tokens: number[], targets: number[], probability: number): void => {
    if (i === states.length) return void outcomes.push({ tokens, targets, probability });
    const s = states[i]!;
    const at = (gap: number[][], p: number): void => {
      for (const fillers of gap) {
        fill(states, i + 1, [...tokens, grammar.stateSymbols[s]!, ...fillers], [...targets, s, ...fillers.map(() => s)], p);
      }
    };
    const choices = distractors ? forbidden(s) : [-1];
    if (i < gapStart || choices.length === 0) return at([[]], probability);
    at([[]], probability * (1 - gapProb));
    for (const steps of [1, 2]) {
      const fillers = steps === 1 ? choices.map((a) => [a]) : choices.flatMap((a) => choices.map((b) => [a, b]));
      at(fillers, (probability * gapProb * 0.5) / fillers.length);
    }
  };
  for (const { states, probability } of samples) fill(states, 0, [], [], probability);
  return outcomes;
}

/** Brute-force posterior of step t's target given that each step s ≤ t reads as one of `readings[s]`. */
function bruteForcePosterior(outcomes: readonly Outcome[], readings: readonly (readonly number[])[], t: number): Map<number, number> {
  const m = new Map<number, number>();
  let total = 0;
  for (const o of outcomes) {
    if (o.tokens.length <= t) continue;
    let consistent = true;
    for (let s = 0; s <= t && consistent; s++) consistent = readings[s]!.includes(o.tokens[s]!);
    if (!consistent) continue;
    total += o.probability;
    m.set(o.targets[t]!, (m.get(o.targets[t]!) ?? 0) + o.probability);
  }
  for (const [c, p] of m) m.set(c, p / total);
  return m;
}

/** Brute-force posterior of every step's target given the tokens so far (each step reads as one token), by prefix. */
function prefixPosteriors(outcomes: readonly Outcome[]): Map<string, Map<number, number>> {
  const byPrefix = new Map<string, Map<number, number>>();
  for (const o of outcomes) {
    for (let t = 0; t < o.tokens.length; t++) {
      const key = o.tokens.slice(0, t + 1).join(",");
      const m = byPrefix.get(key) ?? new Map<number, number>();
      byPrefix.set(key, m);
      m.set(o.targets[t]!, (m.get(o.targets[t]!) ?? 0) + o.probability);
    }
  }
  for (const m of byPrefix.values()) {
    const total = [...m.values()].reduce((a, p) => a + p, 0);
    for (const [c, p] of m) m.set(c, p / total);
  }
  return byPrefix;
}

/** One sample as a batch: each step's inputs from `channels` (F values per step). */
function oneSampleBatch(channels: number[][]): Batch {
  const F = channels[0]!.length;
  const T = channels.length;
  return {
    size: 1,
    steps: T,
    inputSize: F,
    maxSymbols: T,
    inputs: Float32Array.from(channels.flat()),
    targets: new Int32Array(T),
    mask: new Float32Array(T).fill(1),
    windows: new Int32Array(T),
    symbolTargets: new Int32Array(T),
  };
}

describe("the ceiling's Bayes filter against brute force (docs/spec/TASKS.md §4.1)", () => {
  const grammar = handGrammar(["A0", "A1", "B"]);
  const timeAxis = (distractors: boolean, noise: number): TimeAxisConfig => ({
    gapStart: 1,
    gapProb: 0.5,
    gapMin: 0.1,
    gapMax: 0.2, // round(10 d) for d ~ U[0.1, 0.2]: 1 or 2 steps, 1/2 each
    testGap: -1,
    noise,
    distractors,
  });

  it("distractors: the same posterior at every step of every outcome", () => {
    const outcomes = enumerateOutcomes(grammar, 4, 4, 1, 0.5, true);
    const expected = prefixPosteriors(outcomes);
    const task = handTask(grammar, [[A0, B, END, B]], 4, timeAxis(true, 0));
    const sequences = [...new Set(outcomes.map((o) => o.tokens.join(",")))];
    // Every 7th distinct input sequence (a few hundred), each step of it.
    for (let k = 0; k < sequences.length; k += 7) {
      const tokens = sequences[k]!.split(",").map(Number);
      const steps = posteriors(task, 0, oneSampleBatch(tokens.map((a) => [0, 1, 2, 3].map((c) => (c === a ? 1 : 0)))));
      expect(steps).toHaveLength(tokens.length);
      steps.forEach((m, t) => expectPosterior(m, Object.fromEntries(expected.get(tokens.slice(0, t + 1).join(","))!)));
    }
    expect(sequences.length).toBeGreaterThan(1000);
  });

  it("noise ≥ 1: a symbol channel in [1, noise) may be noise alone, and the posterior weighs both readings", () => {
    const outcomes = enumerateOutcomes(grammar, 4, 4, 1, 0.5, false);
    const noise = 2;
    const task = handTask(grammar, [[A0, B, END, B]], 4, timeAxis(false, noise));
    for (const o of outcomes.slice(0, 200)) {
      // A symbol's channel at 1.5, the rest at 0.3: it reads as that symbol or as a blank step; a blank step only as blank.
      const batch = oneSampleBatch(o.tokens.map((a) => [0, 1, 2, 3].map((c) => (c === a ? 1.5 : 0.3))));
      const readings = o.tokens.map((a) => (a < 0 ? [-1] : [-1, a]));
      const steps = posteriors(task, 0, batch);
      steps.forEach((m, t) => expectPosterior(m, Object.fromEntries(bruteForcePosterior(outcomes, readings, t))));
    }
  });
});

function resolved<C extends GrammarTaskConfig>(definition: TaskDefinition<C>, overrides: Partial<C> = {}): C {
  return resolveConfig(definition.schema, definition.defaults, { ...definition.presets.smoke, ...overrides }, "task");
}

/** Share of the test split's symbols whose class is the majority class (docs/spec/TASKS.md §4). */
function majorityBaseline(task: GrammarTaskInstance): number {
  const majority = majorityClassOf(task, 100);
  const batch = task.batch("test", 0, task.splitSize("test"));
  const scored = batch.symbolTargets.filter((c) => c >= 0);
  return scored.filter((c) => c === majority).length / scored.length;
}

const SMOKE_TASKS = [task1Definition, task2Definition, task3Definition] as TaskDefinition<GrammarTaskConfig>[];

describe("the ceiling of the built-in tasks (docs/spec/TASKS.md §4.1)", () => {
  it("is 1 without ambiguity when gaps are blank (Tasks 1, 2 and 4's variants, noise 0.2 included)", () => {
    for (const definition of [task1Definition, task2Definition] as TaskDefinition<GrammarTaskConfig>[]) {
      const task = definition.create(resolved(definition, { ambiguities: 0, initialStates: 2 }), 1) as GrammarTaskInstance;
      expect(task.ceiling("test"), definition.id).toBe(1);
    }
    const config = resolved(task4Definition, { ambiguities: 0, initialStates: 2 });
    for (const v of task4Definition.transfer!.variants(config)) {
      expect((task4Definition.create(v.config, 1) as GrammarTaskInstance).ceiling("test"), v.label).toBe(1);
    }
  });

  it("lies between the majority baseline and 1 on the smoke presets, and the same seed gives the same value", () => {
    for (const definition of SMOKE_TASKS) {
      for (const seed of [1, 2]) {
        const task = definition.create(resolved(definition), seed) as GrammarTaskInstance;
        const ceiling = task.ceiling("test");
        expect(ceiling, `${definition.id} seed ${seed}`).toBeGreaterThanOrEqual(majorityBaseline(task));
        expect(ceiling).toBeLessThanOrEqual(1);
        expect((definition.create(resolved(definition), seed) as GrammarTaskInstance).ceiling("test")).toBe(ceiling);
      }
    }
  });

  it("is NaN in prediction mode (its metric is a KL divergence)", () => {
    const task = task1Definition.create(resolved(task1Definition, { mode: "prediction" }), 1) as GrammarTaskInstance;
    expect(task.ceiling("test")).toBeNaN();
  });

  it("scores the posteriors exactly as core's windowAccuracyCounts scores a model's logits", async () => {
    for (const definition of SMOKE_TASKS) {
      const task = definition.create(resolved(definition), 1) as GrammarTaskInstance;
      const n = task.splitSize("test");
      const batch = task.batch("test", 0, n);
      const filter = new HiddenStateFilter(task.generator, "test");
      const logits = new Float32Array(batch.size * batch.steps * task.numClasses).fill(-1e4);
      for (let b = 0; b < batch.size; b++) {
        filter.filterSample(batch, b, (t, classes, probabilities, count) => {
          const row = (b * batch.steps + t) * task.numClasses;
          const byClass = new Map<number, number>();
          for (let k = 0; k < count; k++) byClass.set(classes[k]!, (byClass.get(classes[k]!) ?? 0) + probabilities[k]!);
          for (const [c, p] of byClass) logits[row + c] = Math.log(p);
        });
      }
      const tensor = tf.tensor3d(logits, [batch.size, batch.steps, task.numClasses]);
      const counts = await windowAccuracyCounts(tensor, batch);
      tensor.dispose();
      expect(ceilingCounts(task.generator, "test", n), definition.id).toEqual(counts);
    }
  });
});
