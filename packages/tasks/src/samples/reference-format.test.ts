import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isSelectivError } from "@selectiv/core";
import { describe, expect, it } from "vitest";
import { Grammar } from "../grammar/grammar.js";
import { parseStateName } from "../grammar/symbols.js";
import { parseTransitions } from "../grammar/transitions-format.js";
import { parseReferenceSample, parseReferenceSamples } from "./reference-format.js";

const FIXTURE = fileURLToPath(new URL("../../../../fixtures/reference-amb6-seed3/", import.meta.url));
const read = (name: string): string => readFileSync(FIXTURE + name, "utf8");
/** From the fixture's README: "start states D5, A1, C3, E1". */
const START_STATES = ["D5", "A1", "C3", "E1"];

describe("reference dataset fixture (amb 6, seed 3; docs/spec/TASKS.md §6)", () => {
  const edges = parseTransitions(read("transitions"));
  const grammar = Grammar.fromEdges({ edges, startStates: START_STATES, alphabetSize: 7 });
  const edgeSet = new Set(edges.map((e) => `${e.source} ${e.target}`));

  it("transitions parse into the grammar the README describes", () => {
    expect(edges).toHaveLength(93);
    expect(grammar.numStates).toBe(37);
    expect(grammar.numEdges).toBe(93);
    expect(grammar.stateNames.filter((n) => n !== "#").every((n) => /^[A-F][0-5]$/.test(n))).toBe(true);
    for (let s = 1; s < grammar.numStates; s++) {
      let sum = 0;
      for (let e = grammar.edgeOffsets[s]!; e < grammar.edgeOffsets[s + 1]!; e++) sum += grammar.edgeProbabilities[e]!;
      expect(sum).toBeCloseTo(1, 9);
    }
  });

  for (const [file, count] of [
    ["train", 40],
    ["test", 10],
  ] as const) {
    it(`${file}: every line parses and every string walks the grammar's edges`, () => {
      const samples = parseReferenceSamples(read(file), file);
      expect(samples).toHaveLength(count);
      for (const sample of samples) {
        expect(sample.length).toBe(200);
        sample.states.forEach((state, i) => {
          expect(sample.symbols[i]).toBe(parseStateName(state).symbol);
          expect(grammar.stateNames).toContain(state);
        });
        expect(START_STATES).toContain(sample.states[0]);
        for (let i = 0; i + 1 < sample.length; i++) {
          const [from, to] = [sample.states[i]!, sample.states[i + 1]!];
          if (from === "#") expect(START_STATES).toContain(to);
          else expect(edgeSet.has(`${from} ${to}`), `${from} -> ${to}`).toBe(true);
        }
      }
    });
  }

  it("rejects malformed lines with a one-line error naming the line", () => {
    const cases: [string, RegExp][] = [
      ["[1, 0]::['A', '#']", /three parts/],
      ["[1, x]::['A', '#']::2", /symbol id "x"/],
      ["[1, 0]::[A, '#']::2", /state name A in quotes/],
      ["[1, 0]::['A', '#']::3", /2 symbol ids and 2 states for LENGTH 3/],
    ];
    for (const [line, message] of cases) {
      let error: unknown;
      try {
        parseReferenceSample(line, "train line 4");
      } catch (e) {
        error = e;
      }
      expect(isSelectivError(error)).toBe(true);
      expect((error as Error).message).toMatch(/^train line 4: got /);
      expect((error as Error).message).toMatch(message);
    }
    expect(parseReferenceSample("[1, 0]::['A', '#']::2")).toEqual({ symbols: [1, 0], states: ["A", "#"], length: 2 });
  });
});
