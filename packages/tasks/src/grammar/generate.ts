import { Rng, SelectivError } from "@selectiv/core";
import { Grammar, MAX_STATES } from "./grammar.js";
import { transitionsToEnd } from "./paths.js";
import { END_ID, MAX_LETTERS, stateName } from "./symbols.js";

/** The knobs of a random artificial grammar (docs/spec/TASKS.md §1). */
export interface GrammarKnobs {
  /** Symbols including `#`. */
  readonly alphabetSize: number;
  /** How many letters get several hidden states. */
  readonly ambiguities: number;
  /** Hidden states per ambiguous letter. */
  readonly ambiguityDepth: number;
  /** Distinct start states (never `#`). */
  readonly initialStates: number;
  /** Edge density before division by ambiguityDepth. */
  readonly transitionDensity: number;
  /** Fewest transitions from any start state to `#` (the reference's min_string_length); 1 = no constraint. */
  readonly minStringLength?: number;
}

export const MAX_GRAMMAR_TRIES = 100_000;

/** The generator a run's grammar is drawn from: the grammar seed is the run seed (docs/spec/TASKS.md §5, §7). */
export function grammarRng(seed: number): Rng {
  return Rng.from("selectiv.grammar", seed);
}

/** Throws a one-line SelectivError for the first knob that cannot give a grammar. */
export function checkGrammarKnobs(knobs: GrammarKnobs): void {
  const { alphabetSize, ambiguities, ambiguityDepth, initialStates, transitionDensity } = knobs;
  const minStringLength = knobs.minStringLength ?? 1;
  const isInt = (v: number, min: number, max = Infinity): boolean => Number.isInteger(v) && v >= min && v <= max;
  if (!isInt(alphabetSize, 2, MAX_LETTERS + 1)) {
    throw new SelectivError(`alphabetSize: got ${alphabetSize}; expected an integer in [2, ${MAX_LETTERS + 1}] (letters plus "#")`);
  }
  const letters = alphabetSize - 1;
  if (!isInt(ambiguities, 0, letters)) {
    throw new SelectivError(
      `ambiguities: got ${ambiguities}; expected an integer in [0, ${letters}] (at most the ${letters} letters of alphabetSize ${alphabetSize})`,
    );
  }
  if (!isInt(ambiguityDepth, 0)) throw new SelectivError(`ambiguityDepth: got ${ambiguityDepth}; expected an integer ≥ 0`);
  if (ambiguities > 0 && ambiguityDepth === 0) {
    throw new SelectivError(`ambiguityDepth: got 0 with ambiguities ${ambiguities}; expected ≥ 1 when any letter is ambiguous`);
  }
  const states = ambiguities * ambiguityDepth + (letters - ambiguities) + 1;
  if (states > MAX_STATES) {
    throw new SelectivError(`ambiguityDepth: got ${ambiguityDepth}, giving ${states} hidden states; expected at most ${MAX_STATES} states`);
  }
  if (!isInt(initialStates, 1, states - 1)) {
    throw new SelectivError(`initialStates: got ${initialStates}; expected an integer in [1, ${states - 1}] (the states other than "#")`);
  }
  if (!(Number.isFinite(transitionDensity) && transitionDensity > 0)) {
    throw new SelectivError(`transitionDensity: got ${transitionDensity}; expected a number > 0`);
  }
  if (!isInt(minStringLength, 0, states - 1)) {
    throw new SelectivError(`minStringLength: got ${minStringLength}; expected an integer in [0, ${states - 1}]`);
  }
}

/**
 * Draws a random artificial grammar (docs/spec/TASKS.md §1) from `rng` alone, redrawing invalid ones (a state that cannot
 * reach `#`, or a start state closer to `#` than minStringLength) up to MAX_GRAMMAR_TRIES times.
 */
export function generateGrammar(knobs: GrammarKnobs, rng: Rng): Grammar {
  checkGrammarKnobs(knobs);
  const { alphabetSize, ambiguities, ambiguityDepth, initialStates } = knobs;
  const minStringLength = knobs.minStringLength ?? 1;
  const letters = alphabetSize - 1;
  const rho = ambiguityDepth > 0 ? knobs.transitionDensity / ambiguityDepth : knobs.transitionDensity;
  const numStates = ambiguities * ambiguityDepth + (letters - ambiguities) + 1;
  const letterOrder = Int32Array.from({ length: letters }, (_, i) => i + 1);
  const ambiguous = new Uint8Array(alphabetSize);
  // States emitting symbol a are the contiguous class ids firstState[a] .. firstState[a] + stateCount[a] - 1.
  const firstState = new Int32Array(alphabetSize);
  const stateCount = new Int32Array(alphabetSize);
  const stateSymbols = new Uint8Array(numStates);
  const edgeOffsets = new Int32Array(numStates + 1);
  const edgeCapacity = (numStates - 1) * alphabetSize;
  const targets = new Int32Array(edgeCapacity);
  const candidates = Int32Array.from({ length: numStates - 1 }, (_, i) => i + 1);
  const startStates = new Int32Array(initialStates);

  for (let attempt = 0; attempt < MAX_GRAMMAR_TRIES; attempt++) {
    // §1.2: the ambiguous letters, a uniform subset (partial Fisher–Yates).
    ambiguous.fill(0);
    for (let i = 0; i < ambiguities; i++) {
      const j = i + rng.int(letters - i);
      [letterOrder[i], letterOrder[j]] = [letterOrder[j]!, letterOrder[i]!];
      ambiguous[letterOrder[i]!] = 1;
    }
    stateCount[END_ID] = 1;
    let next = 1;
    for (let a = 1; a < alphabetSize; a++) {
      firstState[a] = next;
      stateCount[a] = ambiguous[a] ? ambiguityDepth : 1;
      stateSymbols.fill(a, next, next + stateCount[a]!);
      next += stateCount[a]!;
    }

    // §1.3: per (source, symbol) one uniformly chosen emitter of the symbol, kept with probability min(1, |I(a)| rho).
    let e = 0;
    for (let s = 1; s < numStates; s++) {
      for (let a = 0; a < alphabetSize; a++) {
        const count = stateCount[a]!;
        const target = firstState[a]! + rng.int(count);
        if (rng.next() < Math.min(1, count * rho)) targets[e++] = target;
      }
      edgeOffsets[s + 1] = e;
    }

    // §1.5: distinct start states other than `#`.
    for (let i = 0; i < initialStates; i++) {
      const j = i + rng.int(candidates.length - i);
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
      startStates[i] = candidates[i]!;
    }

    // §1.6: every state reaches `#`; start states are at least minStringLength transitions from it.
    const edgeTargets = targets.slice(0, e);
    const distance = transitionsToEnd(edgeOffsets, edgeTargets, numStates);
    let valid = distance.every((d) => d >= 0);
    for (let i = 0; valid && i < initialStates; i++) valid = distance[startStates[i]!]! >= minStringLength;
    if (!valid) continue;

    const edgeProbabilities = new Float64Array(e);
    for (let s = 1; s < numStates; s++) {
      const degree = edgeOffsets[s + 1]! - edgeOffsets[s]!;
      edgeProbabilities.fill(1 / degree, edgeOffsets[s]!, edgeOffsets[s + 1]!);
    }
    const stateNames = Array.from(stateSymbols, (a, s) => stateName(a, ambiguous[a] ? s - firstState[a]! : -1));
    return new Grammar({
      alphabetSize,
      stateNames,
      stateSymbols: stateSymbols.slice(),
      startStates: startStates.slice(),
      edgeOffsets: edgeOffsets.slice(),
      edgeTargets,
      edgeProbabilities,
    });
  }
  throw new SelectivError(
    `grammar: no valid grammar in ${MAX_GRAMMAR_TRIES} tries for alphabetSize ${alphabetSize}, ambiguities ${ambiguities}, ambiguityDepth ${ambiguityDepth}, transitionDensity ${knobs.transitionDensity}, minStringLength ${minStringLength}; expected knobs that let every state reach "#" (raise transitionDensity or lower minStringLength)`,
  );
}
