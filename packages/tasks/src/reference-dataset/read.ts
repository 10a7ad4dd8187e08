import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SelectivError, type Split } from "@selectiv/core";
import { Grammar, MAX_STATES } from "../grammar/grammar.js";
import { END_SYMBOL, compareStateNames, parseStateName } from "../grammar/symbols.js";
import { parseTransitions } from "../grammar/transitions-format.js";
import { parseReferenceSample } from "../samples/reference-format.js";

/** The files of a reference dataset folder (docs/spec/TASKS.md §6). */
export const REFERENCE_FILES = { transitions: "transitions", config: "config.yaml", train: "train", test: "test" } as const;

/** One split of a reference dataset: its hidden-state sequences as class ids, row i = line i (blank lines skipped). */
export interface ReferenceSplit {
  readonly count: number;
  /** [count * length] class ids. */
  readonly classes: Uint16Array;
}

export interface ReferenceDataset {
  readonly dir: string;
  readonly grammar: Grammar;
  /** Symbols per sample (the same for every sample of both splits). */
  readonly length: number;
  readonly splits: Readonly<Record<Split, ReferenceSplit>>;
  /** Symbols of the longest complete string (from a sample's start or a `#` to the next `#`). */
  readonly longestString: number;
  /** Where the start states came from: config.yaml's start_states, or the samples (first states and states after `#`). */
  readonly startStatesFrom: "config.yaml" | "samples";
  /** sha256 of every file read: a change to any of them changes the data. */
  readonly digest: string;
  /** The sample counts config.yaml declares (`dataset_size_train`/`_test`), which the files were checked against. */
  readonly declaredCounts: Readonly<Partial<Record<Split, number>>>;
}

const START_STATES_LINE = /^start_states:\s*\[(.*)\]\s*$/m;

/** The start states a selectiv export records in config.yaml (`start_states: [D5, A1]`); the reference writes none. */
export function parseStartStatesLine(configText: string): string[] | undefined {
  const m = START_STATES_LINE.exec(configText);
  if (!m) return undefined;
  return m[1]!
    .split(",")
    .map((s) => s.trim().replace(/^['"]|['"]$/g, ""))
    .filter((s) => s !== "");
}

const DATASET_SIZE_LINE = /^dataset_size_(train|test):[ \t]*([^#\n]*?)[ \t]*(?:#.*)?$/gm;

/**
 * The sample counts a config.yaml declares with the reference's top-level keys `dataset_size_train` and
 * `dataset_size_test` (its create_dataset.py config; selectiv's exports write them too). `where` names the file in errors.
 */
export function parseDeclaredCounts(configText: string, where: string): Partial<Record<Split, number>> {
  const counts: Partial<Record<Split, number>> = {};
  for (const [, split, value] of configText.matchAll(DATASET_SIZE_LINE)) {
    if (!/^\d+$/.test(value!)) {
      throw new SelectivError(`${where}: dataset_size_${split}: got ${JSON.stringify(value)}; expected a whole number of samples`);
    }
    counts[split as Split] = Number(value);
  }
  return counts;
}

/**
 * Reads a dataset in the reference's on-disk format (docs/spec/TASKS.md §6): the grammar from `transitions` and the hidden
 * states of every line of `train` and `test`. Checks that every line parses, that every observed symbol is its
 * state's letter, and that consecutive states are an edge (or `#` followed by a start state); errors are one line
 * naming the file and line. Start states: config.yaml's `start_states` if present, else those seen in the samples.
 * Where config.yaml declares a split's sample count, a file holding another count (e.g. cut at a line boundary) is an
 * error naming the file and both counts; without one, the count is the file's.
 */
export function readReferenceDataset(dir: string): ReferenceDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new SelectivError(
      `reference dataset: got ${JSON.stringify(dir)}; expected a folder holding transitions, train and test (docs/spec/TASKS.md §6)`,
    );
  }
  const hash = createHash("sha256");
  const read = (name: string, required: boolean): Buffer | undefined => {
    const path = join(dir, name);
    if (!existsSync(path)) {
      if (!required) return undefined;
      throw new SelectivError(
        `reference dataset ${JSON.stringify(dir)}: no file ${JSON.stringify(name)}; expected transitions, train and test`,
      );
    }
    const bytes = readFileSync(path);
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
    return bytes;
  };

  const transitionsPath = join(dir, REFERENCE_FILES.transitions);
  const edges = parseTransitions(read(REFERENCE_FILES.transitions, true)!.toString("utf8"), transitionsPath);
  const configBytes = read(REFERENCE_FILES.config, false);

  // Class ids: every state named in transitions plus `#`, in class-id order (docs/spec/TASKS.md §2), as Grammar.fromEdges numbers them.
  const parsed = new Map([[END_SYMBOL, parseStateName(END_SYMBOL)]]);
  for (const e of edges) for (const name of [e.source, e.target]) if (!parsed.has(name)) parsed.set(name, parseStateName(name));
  const names = [...parsed.keys()].sort((a, b) => compareStateNames(parsed.get(a)!, parsed.get(b)!));
  if (names.length > MAX_STATES) throw new SelectivError(`${transitionsPath}: ${names.length} states; expected at most ${MAX_STATES}`);
  const index = new Map(names.map((name, i) => [name, i]));
  const n = names.length;
  const isEdge = new Set<number>();
  for (const e of edges) isEdge.add(index.get(e.source)! * n + index.get(e.target)!);
  const symbolOf = names.map((name) => parsed.get(name)!.symbol);

  const seenStarts = new Set<number>();
  let length = -1;
  let longestString = 0;
  const readSplit = (split: Split): ReferenceSplit => {
    const path = join(dir, REFERENCE_FILES[split]);
    const bytes = read(REFERENCE_FILES[split], true)!;
    const rows: Uint16Array[] = [];
    let lineStart = 0;
    for (let lineNumber = 1; lineStart < bytes.length; lineNumber++) {
      let lineEnd = bytes.indexOf(10, lineStart);
      if (lineEnd < 0) lineEnd = bytes.length;
      const line = bytes.toString("utf8", lineStart, lineEnd);
      lineStart = lineEnd + 1;
      if (line.trim() === "") continue;
      const where = `${path} line ${lineNumber}`;
      const sample = parseReferenceSample(line, where);
      if (length === -1) length = sample.length;
      if (sample.length !== length) {
        throw new SelectivError(
          `${where}: LENGTH ${sample.length}; expected ${length} like the samples before it (one combinedLength per dataset)`,
        );
      }
      const row = new Uint16Array(length);
      let stringStart = 0;
      for (let i = 0; i < length; i++) {
        const name = sample.states[i]!;
        const state = index.get(name);
        if (state === undefined)
          throw new SelectivError(`${where}: state ${JSON.stringify(name)} at position ${i} is not a state of ${transitionsPath}`);
        if (sample.symbols[i] !== symbolOf[state]) {
          throw new SelectivError(
            `${where}: symbol id ${sample.symbols[i]} at position ${i}; expected ${symbolOf[state]}, the symbol of state ${JSON.stringify(name)}`,
          );
        }
        row[i] = state;
        if (i === 0 || row[i - 1] === 0) {
          if (state === 0) throw new SelectivError(`${where}: a string at position ${i} starts with "#"; expected a start state`);
          seenStarts.add(state);
        } else if (!isEdge.has(row[i - 1]! * n + state)) {
          throw new SelectivError(`${where}: ${sample.states[i - 1]} -> ${name} at position ${i} is not an edge of ${transitionsPath}`);
        }
        if (state === 0) {
          longestString = Math.max(longestString, i + 1 - stringStart);
          stringStart = i + 1;
        }
      }
      rows.push(row);
    }
    if (rows.length === 0) throw new SelectivError(`${path}: no samples; expected one "[ids]::['states']::LENGTH" line per sample`);
    const classes = new Uint16Array(rows.length * length);
    rows.forEach((row, i) => classes.set(row, i * length));
    return { count: rows.length, classes };
  };
  const splits = { train: readSplit("train"), test: readSplit("test") };

  const configPath = join(dir, REFERENCE_FILES.config);
  const configText = configBytes?.toString("utf8") ?? "";
  const declaredCounts = parseDeclaredCounts(configText, configPath);
  for (const split of ["train", "test"] as const) {
    const declared = declaredCounts[split];
    if (declared !== undefined && declared !== splits[split].count) {
      throw new SelectivError(
        `${join(dir, REFERENCE_FILES[split])}: ${splits[split].count} samples; expected ${declared} (dataset_size_${split} in ${configPath}); restore the file, or correct config.yaml`,
      );
    }
  }
  const listed = configBytes ? parseStartStatesLine(configText) : undefined;
  const startStates = listed ?? [...seenStarts].sort((a, b) => a - b).map((s) => names[s]!);
  if (listed) {
    const unlisted = [...seenStarts].filter((s) => !listed.includes(names[s]!)).map((s) => names[s]);
    if (unlisted.length > 0) {
      throw new SelectivError(
        `${configPath}: start_states lacks ${unlisted.join(", ")}, which begin strings in the samples; expected every start state`,
      );
    }
    for (const name of listed) {
      if (!index.has(name))
        throw new SelectivError(`${configPath}: start state ${JSON.stringify(name)} is not a state of ${transitionsPath}`);
    }
  }
  const grammar = Grammar.fromEdges({ edges, startStates });
  return {
    dir,
    grammar,
    length,
    splits,
    longestString,
    startStatesFrom: listed ? "config.yaml" : "samples",
    digest: hash.digest("hex"),
    declaredCounts,
  };
}
