import { SelectivError } from "@selectiv/core";
import type { Grammar, TransitionEdge } from "./grammar.js";

const LINE = /^\s*([^,\s]+)\s*,\s*([^,\s]+)\s*,\s*([^,\s]+)\s*$/;

/** Parses a reference `transitions` file: one `SRC, DST, PROB` line per edge (docs/spec/TASKS.md §6); blank lines are skipped. */
export function parseTransitions(text: string, source = "transitions"): TransitionEdge[] {
  const edges: TransitionEdge[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const m = LINE.exec(line);
    const probability = m ? Number(m[3]) : NaN;
    if (!m || !Number.isFinite(probability)) {
      throw new SelectivError(`${source} line ${i + 1}: got ${JSON.stringify(line)}; expected "SRC, DST, PROB" (e.g. "A3, B0, 0.0625")`);
    }
    edges.push({ source: m[1]!, target: m[2]!, probability });
  });
  return edges;
}

/** The grammar's edges in the reference `transitions` format (docs/spec/TASKS.md §6). */
export function formatTransitions(grammar: Grammar): string {
  const number = (p: number): string => (Number.isInteger(p) ? p.toFixed(1) : String(p));
  return grammar
    .edges()
    .map((e) => `${e.source}, ${e.target}, ${number(e.probability)}\n`)
    .join("");
}
