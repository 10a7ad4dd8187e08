import type { Grammar } from "./grammar.js";
import { END_ID } from "./symbols.js";

export const GRAMMAR_RENDER_FORMATS = ["dot", "svg"] as const;
export type GrammarRenderFormat = (typeof GRAMMAR_RENDER_FORMATS)[number];

/** Probability as printed on an edge: at most 3 decimals. */
function probabilityLabel(p: number): string {
  return String(Math.round(p * 1000) / 1000);
}

/**
 * Graphviz DOT of a grammar: one node per hidden state, `#` a double circle, an arrow from an invisible point into
 * every start state, each edge labelled with its probability.
 */
export function grammarToDot(grammar: Grammar, title = "grammar"): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `digraph ${q(title)} {`,
    "  rankdir=LR;",
    '  node [shape=circle, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    `  ${q("#")} [shape=doublecircle];`,
    '  "__start" [shape=point, label=""];',
  ];
  for (const s of grammar.startStateNames) lines.push(`  "__start" -> ${q(s)};`);
  for (const e of grammar.edges()) lines.push(`  ${q(e.source)} -> ${q(e.target)} [label=${q(probabilityLabel(e.probability))}];`);
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

const xml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fixed = (v: number): string => (Math.round(v * 100) / 100).toString();

/**
 * An SVG drawing of a grammar: states on a circle in class-id order (`#` at the top, start states green, `#` red),
 * each edge a curve bending towards the centre with an arrowhead at its target, self-loops as small outer loops.
 * Every node and edge carries a <title> (state name; "A1 → B0 (p = 0.25)").
 */
export function grammarToSvg(grammar: Grammar, title = "grammar"): string {
  const n = grammar.numStates;
  const r = n <= 40 ? 16 : n <= 200 ? 10 : n <= 800 ? 6 : 4;
  const spacing = 2.8 * r;
  const radius = Math.max(160, (n * spacing) / (2 * Math.PI));
  const margin = 4 * r + 40;
  const size = 2 * (radius + margin);
  const cx = size / 2;
  const cy = size / 2 + 20;
  const angle = (s: number): number => -Math.PI / 2 + (2 * Math.PI * s) / n;
  const x = (s: number): number => cx + radius * Math.cos(angle(s));
  const y = (s: number): number => cy + radius * Math.sin(angle(s));
  const starts = new Set(grammar.startStates);
  const opacity = grammar.numEdges > 400 ? 0.25 : 0.6;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fixed(size)}" height="${fixed(size + 20)}" viewBox="0 0 ${fixed(size)} ${fixed(size + 20)}">`,
    `<title>${xml(title)}</title>`,
    "<defs>",
    `<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="${Math.max(4, r / 2)}" markerHeight="${Math.max(4, r / 2)}" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>`,
    "</defs>",
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-family="Helvetica, Arial, sans-serif" font-size="13">${xml(
      `${title}: ${n} states, ${grammar.numEdges} edges; start states green, "#" red`,
    )}</text>`,
    `<g fill="none" stroke="#555" stroke-width="1" stroke-opacity="${opacity}" marker-end="url(#arrow)">`,
  ];
  for (let s = 0; s < n; s++) {
    for (let e = grammar.edgeOffsets[s]!; e < grammar.edgeOffsets[s + 1]!; e++) {
      const t = grammar.edgeTargets[e]!;
      const label = `${grammar.stateNames[s]} → ${grammar.stateNames[t]} (p = ${probabilityLabel(grammar.edgeProbabilities[e]!)})`;
      let d: string;
      if (s === t) {
        // A teardrop outside the circle: leaves and re-enters the node at ±0.5 rad around its outward direction.
        const a = angle(s);
        const point = (theta: number, distance: number): string =>
          `${fixed(x(s) + distance * Math.cos(theta))},${fixed(y(s) + distance * Math.sin(theta))}`;
        d = `M${point(a - 0.5, r)} C${point(a - 0.6, 4 * r)} ${point(a + 0.6, 4 * r)} ${point(a + 0.5, r)}`;
      } else {
        // Quadratic curve through a control point between the chord's midpoint and the centre, shifted to the left
        // of the direction of travel so that the edges s -> t and t -> s do not overlap.
        const [x1, y1, x2, y2] = [x(s), y(s), x(t), y(t)];
        const qx = cx + 0.35 * ((x1 + x2) / 2 - cx) + 0.12 * (y2 - y1);
        const qy = cy + 0.35 * ((y1 + y2) / 2 - cy) - 0.12 * (x2 - x1);
        const start = towards(x1, y1, qx, qy, r);
        const end = towards(x2, y2, qx, qy, r);
        d = `M${fixed(start[0])},${fixed(start[1])} Q${fixed(qx)},${fixed(qy)} ${fixed(end[0])},${fixed(end[1])}`;
      }
      out.push(`<path d="${d}"><title>${xml(label)}</title></path>`);
    }
  }
  out.push("</g>");
  out.push(`<g font-family="Helvetica, Arial, sans-serif" font-size="${fixed(Math.max(4, r * 0.8))}" text-anchor="middle">`);
  for (let s = 0; s < n; s++) {
    const name = grammar.stateNames[s]!;
    const fill = s === END_ID ? "#d9534f" : starts.has(s) ? "#5cb85c" : "#dbe9f6";
    out.push(
      `<g><title>${xml(name)}</title><circle cx="${fixed(x(s))}" cy="${fixed(y(s))}" r="${r}" fill="${fill}" stroke="#333"/>` +
        `<text x="${fixed(x(s))}" y="${fixed(y(s) + r * 0.3)}">${xml(name)}</text></g>`,
    );
  }
  out.push("</g>", "</svg>");
  return `${out.join("\n")}\n`;
}

/** The point at distance `by` from (x, y) in the direction of (tx, ty). */
function towards(x: number, y: number, tx: number, ty: number, by: number): [number, number] {
  const length = Math.hypot(tx - x, ty - y) || 1;
  return [x + ((tx - x) / length) * by, y + ((ty - y) / length) * by];
}

/** The grammar in `format`. */
export function renderGrammar(grammar: Grammar, format: GrammarRenderFormat, title?: string): string {
  return format === "svg" ? grammarToSvg(grammar, title) : grammarToDot(grammar, title);
}
