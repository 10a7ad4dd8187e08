import { describe, expect, it } from "vitest";
import { generateGrammar, grammarRng } from "./generate.js";
import { grammarToDot, grammarToSvg } from "./render.js";

const grammar = generateGrammar(
  { alphabetSize: 7, ambiguities: 6, ambiguityDepth: 6, initialStates: 4, transitionDensity: 0.4 },
  grammarRng(3),
);

describe("grammar drawings", () => {
  it("dot: every state, every edge with its probability, an arrow into each start state", () => {
    const dot = grammarToDot(grammar, "g");
    expect(dot.startsWith('digraph "g" {')).toBe(true);
    for (const e of grammar.edges()) {
      expect(dot).toContain(`"${e.source}" -> "${e.target}" [label="${Math.round(e.probability * 1000) / 1000}"];`);
    }
    for (const s of grammar.startStateNames) expect(dot).toContain(`"__start" -> "${s}";`);
    expect(dot.match(/ -> /g)).toHaveLength(grammar.numEdges + grammar.startStates.length);
  });

  it("svg: a circle per state on a ring, a path per edge, each with a title; start states green, '#' red", () => {
    const svg = grammarToSvg(grammar, "g");
    expect(svg.startsWith("<svg xmlns=")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="(\d+)" fill="(#[0-9a-f]+)"/g)];
    expect(circles).toHaveLength(grammar.numStates);
    expect(circles.filter((c) => c[4] === "#5cb85c")).toHaveLength(grammar.startStates.length);
    expect(circles.filter((c) => c[4] === "#d9534f")).toHaveLength(1);
    // All centres are equally far from the ring's centre.
    const xs = circles.map((c) => Number(c[1]));
    const ys = circles.map((c) => Number(c[2]));
    const cx = xs.reduce((a, b) => a + b) / xs.length;
    const cy = ys.reduce((a, b) => a + b) / ys.length;
    const radii = xs.map((x, i) => Math.hypot(x - cx, ys[i]! - cy));
    expect(Math.max(...radii) - Math.min(...radii)).toBeLessThan(0.05 * Math.max(...radii));
    expect(svg.match(/<path d="M[^"]+"><title>[^<]+ → [^<]+ \(p = [\d.]+\)<\/title><\/path>/g)).toHaveLength(grammar.numEdges);
  });
});
