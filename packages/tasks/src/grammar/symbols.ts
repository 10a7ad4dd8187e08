import { SelectivError } from "@selectiv/core";

/** The end-of-string symbol; observed symbol id 0 and class id 0 (docs/spec/TASKS.md §2). */
export const END_SYMBOL = "#";
export const END_ID = 0;
/** Letters available to a grammar: `A..Z` then `a..z` (docs/spec/TASKS.md §1). */
export const MAX_LETTERS = 52;

/** Observed symbol id of a letter or `#`: `#` = 0, `A..Z` = 1..26, `a..z` = 27..52 (docs/spec/TASKS.md §2). */
export function symbolId(symbol: string): number {
  if (symbol === END_SYMBOL) return END_ID;
  const c = symbol.length === 1 ? symbol.charCodeAt(0) : -1;
  if (c >= 65 && c <= 90) return c - 64;
  if (c >= 97 && c <= 122) return c - 96 + 26;
  throw new SelectivError(`symbol: got ${JSON.stringify(symbol)}; expected "#" or one letter A-Z, a-z`);
}

export function symbolName(id: number): string {
  if (id === END_ID) return END_SYMBOL;
  if (Number.isInteger(id) && id >= 1 && id <= 26) return String.fromCharCode(64 + id);
  if (Number.isInteger(id) && id >= 27 && id <= MAX_LETTERS) return String.fromCharCode(96 + id - 26);
  throw new RangeError(`symbol id ${id} is outside 0..${MAX_LETTERS}`);
}

/** A hidden-state name split into its letter and ambiguity index (-1 for a letter with a single state). */
export interface StateName {
  readonly symbol: number;
  readonly index: number;
}

const STATE_NAME = /^([A-Za-z])(\d*)$/;

/** Parses `#`, `B` or `B12` (docs/spec/TASKS.md §1 naming). */
export function parseStateName(name: string): StateName {
  if (name === END_SYMBOL) return { symbol: END_ID, index: -1 };
  const m = STATE_NAME.exec(name);
  if (!m) {
    throw new SelectivError(`state: got ${JSON.stringify(name)}; expected "#", a letter, or a letter followed by digits (e.g. "B3")`);
  }
  return { symbol: symbolId(m[1]!), index: m[2] === "" ? -1 : Number(m[2]) };
}

export function stateName(symbol: number, index: number): string {
  return index < 0 ? symbolName(symbol) : `${symbolName(symbol)}${index}`;
}

/** Class-id order (docs/spec/TASKS.md §2): `#` first, then by letter id, then by ambiguity index. */
export function compareStateNames(a: StateName, b: StateName): number {
  return a.symbol - b.symbol || a.index - b.index;
}
