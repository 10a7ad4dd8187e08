import { SelectivError } from "@selectiv/core";

/** One line of a reference `train`/`test` file (docs/spec/TASKS.md §6). */
export interface ReferenceSample {
  /** Observed symbol ids. */
  readonly symbols: number[];
  /** Hidden-state names, `#` included. */
  readonly states: string[];
  readonly length: number;
}

/** Parses `[c0, c1, ...]::['S0', 'S1', ...]::LENGTH`; `where` names the line in errors. */
export function parseReferenceSample(line: string, where = "sample"): ReferenceSample {
  const bad = (why: string): never => {
    const shown = line.length > 60 ? `${line.slice(0, 57)}...` : line;
    throw new SelectivError(`${where}: got ${JSON.stringify(shown)}; expected "[ids]::['states']::LENGTH" (${why})`);
  };
  const parts = line.trim().split("::");
  if (parts.length !== 3) return bad("three parts separated by '::'");
  const [symbolText, stateText, lengthText] = parts as [string, string, string];
  const list = (text: string, what: string): string[] => {
    const t = text.trim();
    if (!t.startsWith("[") || !t.endsWith("]")) return bad(`${what} in [ ]`);
    const inner = t.slice(1, -1).trim();
    return inner === "" ? [] : inner.split(",").map((s) => s.trim());
  };
  const symbols = list(symbolText, "symbol ids").map((s) => (/^\d+$/.test(s) ? Number(s) : bad(`symbol id ${JSON.stringify(s)}`)));
  const states = list(stateText, "state names").map((s) => {
    const m = /^'([^']*)'$/.exec(s) ?? /^"([^"]*)"$/.exec(s);
    return m ? m[1]! : bad(`state name ${s} in quotes`);
  });
  const length = /^\d+$/.test(lengthText.trim()) ? Number(lengthText.trim()) : bad("LENGTH an integer");
  if (symbols.length !== length || states.length !== length) {
    bad(`${symbols.length} symbol ids and ${states.length} states for LENGTH ${length}`);
  }
  return { symbols, states, length };
}

/** Parses every non-blank line of a reference `train`/`test` file. */
export function parseReferenceSamples(text: string, source = "samples"): ReferenceSample[] {
  const out: ReferenceSample[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== "") out.push(parseReferenceSample(line, `${source} line ${i + 1}`));
  });
  return out;
}
