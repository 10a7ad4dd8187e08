import { SelectivError } from "@selectiv/core";
import { topologicalEntropy } from "./entropy.js";
import { transitionsToEnd } from "./paths.js";
import { END_ID, END_SYMBOL, MAX_LETTERS, compareStateNames, parseStateName, type StateName } from "./symbols.js";

/** Class ids are stored as 16-bit integers in sample buffers. */
export const MAX_STATES = 65_535;

/** One edge of a grammar by state names, as in the reference `transitions` file (docs/spec/TASKS.md §6). */
export interface TransitionEdge {
  readonly source: string;
  readonly target: string;
  readonly probability: number;
}

/** What a Grammar is built from. State index = class id (docs/spec/TASKS.md §2), so state 0 is `#`. */
export interface GrammarParts {
  readonly alphabetSize: number;
  readonly stateNames: readonly string[];
  readonly stateSymbols: Uint8Array;
  readonly startStates: Int32Array;
  /** Outgoing edges in CSR form: the edges of state s are offsets[s] .. offsets[s+1]-1. */
  readonly edgeOffsets: Int32Array;
  readonly edgeTargets: Int32Array;
  /** Row-normalised transition probabilities. */
  readonly edgeProbabilities: Float64Array;
}

export interface GrammarStats {
  readonly states: number;
  readonly edges: number;
  readonly edgesToEnd: number;
  readonly te: number;
}

/**
 * A random artificial grammar (docs/spec/TASKS.md §1): hidden states that each emit one symbol, at most one successor per
 * (state, symbol), and `#` (state 0) ending every string. Everything is held in flat typed arrays.
 */
export class Grammar {
  /** Symbols including `#`; the one-hot input size. */
  readonly alphabetSize: number;
  readonly numStates: number;
  readonly stateNames: readonly string[];
  /** Observed symbol id emitted by each state. */
  readonly stateSymbols: Uint8Array;
  readonly startStates: Int32Array;
  readonly edgeOffsets: Int32Array;
  readonly edgeTargets: Int32Array;
  readonly edgeProbabilities: Float64Array;
  /** Running sum of edgeProbabilities within each row; the last entry of a row is exactly 1. */
  readonly edgeCumulative: Float64Array;
  /** True when every row's edges are equiprobable, so a successor is one uniform index. */
  readonly uniformRows: boolean;
  /** [state * alphabetSize + symbol] → successor state, or -1 where the grammar has no such edge. */
  readonly successors: Int32Array;
  /** Symbols with no edge from each state (distractor candidates, docs/spec/TASKS.md §3), in CSR form. */
  readonly violationOffsets: Int32Array;
  readonly violationSymbols: Uint8Array;
  private entropy: number | undefined;

  constructor(parts: GrammarParts) {
    const n = parts.stateNames.length;
    const alphabet = parts.alphabetSize;
    if (n > MAX_STATES) {
      throw new SelectivError(`grammar: got ${n} hidden states; expected at most ${MAX_STATES} (ambiguities × ambiguityDepth too large)`);
    }
    this.alphabetSize = alphabet;
    this.numStates = n;
    this.stateNames = parts.stateNames;
    this.stateSymbols = parts.stateSymbols;
    this.startStates = parts.startStates;
    this.edgeOffsets = parts.edgeOffsets;
    this.edgeTargets = parts.edgeTargets;
    this.edgeProbabilities = parts.edgeProbabilities;

    this.successors = new Int32Array(n * alphabet).fill(-1);
    this.edgeCumulative = new Float64Array(this.edgeTargets.length);
    let uniform = true;
    for (let s = 0; s < n; s++) {
      const first = this.edgeOffsets[s]!;
      const end = this.edgeOffsets[s + 1]!;
      let sum = 0;
      for (let e = first; e < end; e++) {
        const t = this.edgeTargets[e]!;
        const slot = s * alphabet + this.stateSymbols[t]!;
        if (this.successors[slot] !== -1) {
          throw new SelectivError(
            `grammar: state ${this.stateNames[s]} has two successors emitting ${JSON.stringify(this.stateNames[t]![0])} (${this.stateNames[this.successors[slot]!]} and ${this.stateNames[t]}); expected at most one per (state, symbol)`,
          );
        }
        this.successors[slot] = t;
        sum += this.edgeProbabilities[e]!;
        this.edgeCumulative[e] = sum;
        if (Math.abs(this.edgeProbabilities[e]! * (end - first) - 1) > 1e-9) uniform = false;
      }
      if (end > first) this.edgeCumulative[end - 1] = 1;
    }
    this.uniformRows = uniform;

    const violationOffsets = new Int32Array(n + 1);
    const violations: number[] = [];
    for (let s = 0; s < n; s++) {
      for (let a = 0; a < alphabet; a++) if (this.successors[s * alphabet + a] === -1) violations.push(a);
      violationOffsets[s + 1] = violations.length;
    }
    this.violationOffsets = violationOffsets;
    this.violationSymbols = Uint8Array.from(violations);
  }

  get numEdges(): number {
    return this.edgeTargets.length;
  }

  get edgesToEnd(): number {
    let count = 0;
    for (let e = 0; e < this.edgeTargets.length; e++) if (this.edgeTargets[e] === END_ID) count++;
    return count;
  }

  get startStateNames(): string[] {
    return Array.from(this.startStates, (s) => this.stateNames[s]!);
  }

  /** Successor of `state` on observed `symbol`, or -1 (docs/spec/TASKS.md §1: at most one). */
  successor(state: number, symbol: number): number {
    return this.successors[state * this.alphabetSize + symbol]!;
  }

  /** Topological entropy (docs/spec/TASKS.md §1, direct method), computed once. */
  topologicalEntropy(): number {
    this.entropy ??= topologicalEntropy(this);
    return this.entropy;
  }

  stats(): GrammarStats {
    return { states: this.numStates, edges: this.numEdges, edgesToEnd: this.edgesToEnd, te: this.topologicalEntropy() };
  }

  edges(): TransitionEdge[] {
    const out: TransitionEdge[] = [];
    for (let s = 0; s < this.numStates; s++) {
      for (let e = this.edgeOffsets[s]!; e < this.edgeOffsets[s + 1]!; e++) {
        out.push({ source: this.stateNames[s]!, target: this.stateNames[this.edgeTargets[e]!]!, probability: this.edgeProbabilities[e]! });
      }
    }
    return out;
  }

  /**
   * A grammar from explicit edges and start states (e.g. a reference dataset's `transitions`). States are
   * numbered in class-id order (docs/spec/TASKS.md §2); probabilities are row-normalised. `alphabetSize` defaults to the
   * largest symbol id used + 1. Every state must reach `#`, and `#` must have no outgoing edge.
   */
  static fromEdges(spec: {
    readonly edges: readonly TransitionEdge[];
    readonly startStates: readonly string[];
    readonly states?: readonly string[];
    readonly alphabetSize?: number;
  }): Grammar {
    const parsed = new Map<string, StateName>([[END_SYMBOL, parseStateName(END_SYMBOL)]]);
    const add = (name: string): void => {
      if (!parsed.has(name)) parsed.set(name, parseStateName(name));
    };
    for (const e of spec.edges) {
      add(e.source);
      add(e.target);
    }
    spec.startStates.forEach(add);
    spec.states?.forEach(add);

    const names = [...parsed.keys()].sort((a, b) => compareStateNames(parsed.get(a)!, parsed.get(b)!));
    for (let i = 1; i < names.length; i++) {
      if (compareStateNames(parsed.get(names[i - 1]!)!, parsed.get(names[i]!)!) === 0) {
        throw new SelectivError(
          `grammar: states ${JSON.stringify(names[i - 1])} and ${JSON.stringify(names[i])} name the same state; expected distinct names`,
        );
      }
    }
    const index = new Map(names.map((name, i) => [name, i]));
    const stateSymbols = Uint8Array.from(names, (name) => parsed.get(name)!.symbol);
    const largestSymbol = Math.max(...stateSymbols);
    const alphabetSize = spec.alphabetSize ?? largestSymbol + 1;
    if (!Number.isInteger(alphabetSize) || alphabetSize < largestSymbol + 1 || alphabetSize > MAX_LETTERS + 1) {
      throw new SelectivError(
        `alphabetSize: got ${alphabetSize}; expected an integer in [${largestSymbol + 1}, ${MAX_LETTERS + 1}] (the states use symbol ids up to ${largestSymbol})`,
      );
    }

    const rows: { target: number; probability: number }[][] = names.map(() => []);
    for (const e of spec.edges) {
      if (!(Number.isFinite(e.probability) && e.probability > 0)) {
        throw new SelectivError(`grammar: edge ${e.source} -> ${e.target} has probability ${e.probability}; expected a number > 0`);
      }
      if (e.source === END_SYMBOL) throw new SelectivError(`grammar: edge # -> ${e.target}; expected no edge out of "#"`);
      const row = rows[index.get(e.source)!]!;
      const target = index.get(e.target)!;
      if (row.some((r) => r.target === target))
        throw new SelectivError(`grammar: edge ${e.source} -> ${e.target} is listed twice; expected each edge once`);
      row.push({ target, probability: e.probability });
    }
    const edgeOffsets = new Int32Array(names.length + 1);
    const edgeTargets = new Int32Array(spec.edges.length);
    const edgeProbabilities = new Float64Array(spec.edges.length);
    let e = 0;
    rows.forEach((row, s) => {
      row.sort((a, b) => a.target - b.target);
      const total = row.reduce((sum, r) => sum + r.probability, 0);
      for (const r of row) {
        edgeTargets[e] = r.target;
        edgeProbabilities[e++] = r.probability / total;
      }
      edgeOffsets[s + 1] = e;
    });

    if (spec.startStates.length === 0) throw new SelectivError("grammar: got no start states; expected at least one");
    const startStates = Int32Array.from(spec.startStates, (name) => {
      if (name === END_SYMBOL) throw new SelectivError(`grammar: start state "#"; expected start states other than "#"`);
      return index.get(name)!;
    });
    const distance = transitionsToEnd(edgeOffsets, edgeTargets, names.length);
    const stuck = names.filter((_, s) => distance[s] === -1);
    if (stuck.length > 0) {
      throw new SelectivError(
        `grammar: states ${stuck.slice(0, 5).join(", ")}${stuck.length > 5 ? ", ..." : ""} cannot reach "#"; expected a path to "#" from every state`,
      );
    }
    return new Grammar({ alphabetSize, stateNames: names, stateSymbols, startStates, edgeOffsets, edgeTargets, edgeProbabilities });
  }
}
