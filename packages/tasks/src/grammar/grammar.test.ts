import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Rng, isSelectivError } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { Grammar } from "./grammar.js";
import { generateGrammar, grammarRng, type GrammarKnobs } from "./generate.js";
import { StringSampler } from "../samples/strings.js";
import { parseStateName, symbolId } from "./symbols.js";
import { formatTransitions, parseTransitions } from "./transitions-format.js";

const FIXTURES = fileURLToPath(new URL("../../../../fixtures/", import.meta.url));

function paperLike(amb: number): GrammarKnobs {
  return { alphabetSize: amb + 1, ambiguities: amb, ambiguityDepth: amb, initialStates: 4, transitionDensity: 0.4 };
}

function adjacency(grammar: Grammar): Map<string, string[]> {
  const out = new Map<string, string[]>(grammar.stateNames.map((name) => [name, []]));
  for (const e of grammar.edges()) out.get(e.source)!.push(e.target);
  return out;
}

function statesReachingEnd(grammar: Grammar): Set<string> {
  const adj = adjacency(grammar);
  const reach = new Set(["#"]);
  for (let grown = true; grown;) {
    grown = false;
    for (const [s, targets] of adj) {
      if (!reach.has(s) && targets.some((t) => reach.has(t))) {
        reach.add(s);
        grown = true;
      }
    }
  }
  return reach;
}

function shortestToEnd(grammar: Grammar, from: string): number {
  const adj = adjacency(grammar);
  let frontier = [from];
  const seen = new Set(frontier);
  for (let d = 0; frontier.length > 0; d++) {
    if (frontier.includes("#")) return d;
    frontier = frontier.flatMap((s) => adj.get(s)!).filter((t) => !seen.has(t) && seen.add(t));
  }
  return -1;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

const KNOB_SETS: GrammarKnobs[] = [
  paperLike(6),
  paperLike(20),
  { alphabetSize: 10, ambiguities: 3, ambiguityDepth: 5, initialStates: 4, transitionDensity: 0.4 },
  { alphabetSize: 27, ambiguities: 0, ambiguityDepth: 0, initialStates: 2, transitionDensity: 0.15 },
  { alphabetSize: 53, ambiguities: 52, ambiguityDepth: 2, initialStates: 4, transitionDensity: 0.4 },
];

describe("generated grammar structure (docs/spec/TASKS.md §1–§2)", () => {
  for (const knobs of KNOB_SETS) {
    const label = `alphabet ${knobs.alphabetSize}, amb ${knobs.ambiguities}, depth ${knobs.ambiguityDepth}`;
    for (const seed of [1, 2, 3]) {
      const g = generateGrammar(knobs, grammarRng(seed));

      it(`${label}, seed ${seed}: state count, names and class ids`, () => {
        const letters = knobs.alphabetSize - 1;
        expect(g.numStates).toBe(knobs.ambiguities * knobs.ambiguityDepth + letters - knobs.ambiguities + 1);
        expect(g.stateNames[0]).toBe("#");
        expect(new Set(g.stateNames).size).toBe(g.numStates);
        const ambiguousLetters = new Set<number>();
        g.stateNames.forEach((name, s) => {
          const parsed = parseStateName(name);
          expect(g.stateSymbols[s]).toBe(parsed.symbol);
          expect(parsed.symbol).toBeLessThan(knobs.alphabetSize);
          if (parsed.index >= 0) ambiguousLetters.add(parsed.symbol);
          if (s > 0) {
            const prev = parseStateName(g.stateNames[s - 1]!);
            expect(prev.symbol < parsed.symbol || (prev.symbol === parsed.symbol && prev.index < parsed.index)).toBe(true);
          }
        });
        expect(ambiguousLetters.size).toBe(knobs.ambiguities);
        for (const letter of ambiguousLetters) {
          const indices = g.stateNames.filter((n) => n !== "#" && parseStateName(n).symbol === letter).map((n) => parseStateName(n).index);
          expect(indices).toEqual(Array.from({ length: knobs.ambiguityDepth }, (_, i) => i));
        }
      });

      it(`${label}, seed ${seed}: at most one successor per (state, symbol), '#' has none, rows sum to 1`, () => {
        for (const [source, targets] of adjacency(g)) {
          const symbols = targets.map((t) => symbolId(t[0]!));
          expect(new Set(symbols).size).toBe(symbols.length);
          for (const t of targets) expect(g.successor(g.stateNames.indexOf(source), symbolId(t[0]!))).toBe(g.stateNames.indexOf(t));
          if (source === "#") expect(targets).toEqual([]);
        }
        for (let s = 1; s < g.numStates; s++) {
          let sum = 0;
          for (let e = g.edgeOffsets[s]!; e < g.edgeOffsets[s + 1]!; e++) sum += g.edgeProbabilities[e]!;
          expect(sum).toBeCloseTo(1, 12);
        }
        let filled = 0;
        for (const t of g.successors) if (t >= 0) filled++;
        expect(filled).toBe(g.numEdges);
      });

      it(`${label}, seed ${seed}: every state reaches '#', start states are distinct and never '#'`, () => {
        expect(statesReachingEnd(g).size).toBe(g.numStates);
        const starts = g.startStateNames;
        expect(starts).toHaveLength(knobs.initialStates);
        expect(new Set(starts).size).toBe(starts.length);
        expect(starts).not.toContain("#");
      });
    }
  }

  it("the same seed gives the same grammar and another seed a different one", () => {
    const a = formatTransitions(generateGrammar(paperLike(8), grammarRng(5)));
    expect(formatTransitions(generateGrammar(paperLike(8), grammarRng(5)))).toBe(a);
    expect(formatTransitions(generateGrammar(paperLike(8), grammarRng(6)))).not.toBe(a);
  });

  it("minStringLength keeps every start state at least that many transitions from '#'", () => {
    for (const seed of [1, 2, 3, 4]) {
      const g = generateGrammar({ ...paperLike(5), minStringLength: 3 }, grammarRng(seed));
      for (const s of g.startStateNames) expect(shortestToEnd(g, s)).toBeGreaterThanOrEqual(3);
    }
  });

  it("gives up with a one-line error when no valid grammar exists", () => {
    // Two single-state letters, both start states, both ≥ 2 transitions from '#': the state with the edge into '#' is 1 away.
    const e = thrown(() =>
      generateGrammar(
        { alphabetSize: 3, ambiguities: 0, ambiguityDepth: 1, initialStates: 2, transitionDensity: 1, minStringLength: 2 },
        new Rng(1),
      ),
    );
    expect(isSelectivError(e)).toBe(true);
    expect(e.message).toMatch(/no valid grammar in 100000 tries/);
    expect(e.message).not.toContain("\n");
  });

  it("rejects bad knobs with one-line errors naming the field, the value and what is allowed", () => {
    const cases: [Partial<GrammarKnobs>, RegExp][] = [
      [{ ambiguities: 9 }, /^ambiguities: got 9; expected an integer in \[0, 8\]/],
      [{ ambiguityDepth: 0 }, /^ambiguityDepth: got 0 with ambiguities 8; expected ≥ 1/],
      [{ alphabetSize: 54, ambiguities: 2 }, /^alphabetSize: got 54; expected an integer in \[2, 53\]/],
      [{ initialStates: 65 }, /^initialStates: got 65; expected an integer in \[1, 64\]/],
      [{ transitionDensity: 0 }, /^transitionDensity: got 0; expected a number > 0/],
      [{ minStringLength: -1 }, /^minStringLength: got -1; expected an integer/],
    ];
    for (const [override, message] of cases) {
      const e = thrown(() => generateGrammar({ ...paperLike(8), ...override }, new Rng(1)));
      expect(isSelectivError(e)).toBe(true);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain("\n");
    }
  });
});

describe("topological entropy (docs/spec/TASKS.md §1, direct method)", () => {
  const tiny = (edges: [string, string][], startStates: string[]): Grammar =>
    Grammar.fromEdges({ edges: edges.map(([source, target]) => ({ source, target, probability: 1 })), startStates });

  it("matches hand-computed eigenvalues, periodic matrices included", () => {
    // # -> A -> B -> # is a 3-cycle: eigenvalue 1.
    expect(
      tiny(
        [
          ["A", "B"],
          ["B", "#"],
        ],
        ["A"],
      ).topologicalEntropy(),
    ).toBeCloseTo(0, 10);
    // A -> {A, #}, # -> A: [[0, 1], [1, 1]] has the golden ratio.
    expect(
      tiny(
        [
          ["A", "A"],
          ["A", "#"],
        ],
        ["A"],
      ).topologicalEntropy(),
    ).toBeCloseTo(Math.log((1 + Math.sqrt(5)) / 2), 10);
    // # -> A -> {B, C} -> #: closed walks only of length 3k, 2^k of them; period 3, eigenvalue 2^(1/3).
    expect(
      tiny(
        [
          ["A", "B"],
          ["A", "C"],
          ["B", "#"],
          ["C", "#"],
        ],
        ["A"],
      ).topologicalEntropy(),
    ).toBeCloseTo(Math.log(2) / 3, 10);
  });

  it("amb = depth = 20, seeds 1-4: within the published 2.08-2.10 (±0.02)", () => {
    const te = [1, 2, 3, 4].map((seed) => generateGrammar(paperLike(20), grammarRng(seed)).topologicalEntropy());
    for (const value of te) {
      expect(value).toBeGreaterThan(2.06);
      expect(value).toBeLessThan(2.12);
    }
  });

  it("amb = depth = 40 (the paper's Task-1 grammar), seed 1: near the published 2.77-2.78", () => {
    const te = generateGrammar(paperLike(40), grammarRng(1)).topologicalEntropy();
    expect(te).toBeGreaterThan(2.75);
    expect(te).toBeLessThan(2.8);
  });
});

describe("grammar statistics against the reference generator (reference-grammar-stats.json)", () => {
  interface ReferenceRow {
    seed: number;
    states: number;
    edges: number;
    edges_to_end: number;
    te: number;
    mean_len: number;
  }
  const reference = JSON.parse(readFileSync(`${FIXTURES}reference-grammar-stats.json`, "utf8")) as {
    by_amb: Record<string, ReferenceRow[]>;
  };
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)) * (xs.length / (xs.length - 1)));

  for (const amb of [8, 20]) {
    it(`amb = depth = ${amb}, seeds 1-8: mean edges, edges to '#', TE and string length match`, () => {
      const rows = reference.by_amb[String(amb)]!;
      const ours = rows.map(({ seed }) => {
        const g = generateGrammar(paperLike(amb), grammarRng(seed));
        expect(g.numStates).toBe(rows[0]!.states);
        return {
          edges: g.numEdges,
          edges_to_end: g.edgesToEnd,
          te: g.topologicalEntropy(),
          mean_len: new StringSampler(g, 200).meanLength(Rng.from("reference-stats", seed), 300),
        };
      });
      // Two means of 8 grammars each differ by sampling alone with sd ≈ s·sqrt(2/8), s the per-grammar sd;
      // allow 3 such sds (and at least 2% of the reference value).
      for (const key of ["edges", "edges_to_end", "te", "mean_len"] as const) {
        const theirs = rows.map((r) => r[key]);
        const mine = ours.map((r) => r[key]);
        const s = Math.sqrt((sd(theirs) ** 2 + sd(mine) ** 2) / 2);
        const tolerance = Math.max(3 * s * Math.sqrt(2 / rows.length), 0.02 * mean(theirs));
        expect(Math.abs(mean(mine) - mean(theirs)), `${key}: ours ${mean(mine)} vs reference ${mean(theirs)}`).toBeLessThanOrEqual(
          tolerance,
        );
      }
    });
  }
});

describe("Grammar.fromEdges and the transitions format (docs/spec/TASKS.md §6)", () => {
  it("round-trips a generated grammar through the transitions text", () => {
    const g = generateGrammar(paperLike(6), grammarRng(3));
    const edges = parseTransitions(formatTransitions(g));
    expect(edges).toHaveLength(g.numEdges);
    const h = Grammar.fromEdges({ edges, startStates: g.startStateNames, alphabetSize: g.alphabetSize });
    expect(h.stateNames).toEqual(g.stateNames);
    expect(Array.from(h.edgeTargets)).toEqual(Array.from(g.edgeTargets));
    expect(h.topologicalEntropy()).toBeCloseTo(g.topologicalEntropy(), 12);
  });

  it("row-normalises probabilities and orders states by class id", () => {
    const g = Grammar.fromEdges({
      edges: [
        { source: "B1", target: "A", probability: 3 },
        { source: "B1", target: "#", probability: 1 },
        { source: "A", target: "B0", probability: 2 },
        { source: "B0", target: "#", probability: 5 },
      ],
      startStates: ["B1"],
    });
    expect(g.stateNames).toEqual(["#", "A", "B0", "B1"]);
    expect(g.alphabetSize).toBe(3);
    expect(g.edges()).toContainEqual({ source: "B1", target: "A", probability: 0.75 });
    expect(g.edges()).toContainEqual({ source: "A", target: "B0", probability: 1 });
  });

  it("rejects grammars the spec rules out, with one-line errors", () => {
    const edge = (source: string, target: string) => ({ source, target, probability: 1 });
    const cases: [Parameters<typeof Grammar.fromEdges>[0], RegExp][] = [
      [{ edges: [edge("A", "B0"), edge("A", "B1"), edge("B0", "#"), edge("B1", "#")], startStates: ["A"] }, /two successors emitting "B"/],
      [{ edges: [edge("A", "#"), edge("#", "A")], startStates: ["A"] }, /expected no edge out of "#"/],
      [{ edges: [edge("A", "#"), edge("B", "B")], startStates: ["A"] }, /states B cannot reach "#"/],
      [{ edges: [edge("A", "#")], startStates: ["#"] }, /expected start states other than "#"/],
      [{ edges: [edge("A1", "#"), edge("A01", "#")], startStates: ["A1"] }, /name the same state/],
      [{ edges: [edge("A", "#")], startStates: ["A"], alphabetSize: 60 }, /^alphabetSize: got 60/],
    ];
    for (const [spec, message] of cases) {
      const e = thrown(() => Grammar.fromEdges(spec));
      expect(isSelectivError(e)).toBe(true);
      expect(e.message).toMatch(message);
    }
    const e = thrown(() => parseTransitions("A0, B1, 0.5\nA0 B1 0.5\n"));
    expect(e.message).toMatch(/^transitions line 2: got "A0 B1 0.5"; expected "SRC, DST, PROB"/);
  });
});
