import type { Grammar } from "./grammar.js";

const MAX_ITERATIONS = 100_000;
const TOLERANCE = 1e-13;

/**
 * Topological entropy, "direct" method (docs/spec/TASKS.md §1): natural log of the largest real eigenvalue r of the binary
 * transition matrix M with the corrections `# -> start`. M is non-negative, so r is its Perron root; power
 * iteration runs on M + I, whose dominant eigenvalue r + 1 is alone on its spectral circle even when M is
 * periodic (|λ + 1| < r + 1 for every other eigenvalue λ with |λ| ≤ r), then subtracts 1.
 */
export function topologicalEntropy(grammar: Grammar): number {
  const n = grammar.numStates;
  const { edgeOffsets, edgeTargets, startStates } = grammar;
  let v = new Float64Array(n).fill(1 / n);
  let w = new Float64Array(n);
  let estimate = 0;
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    let total = 0;
    for (let s = 0; s < n; s++) {
      let sum = v[s]!;
      for (let e = edgeOffsets[s]!; e < edgeOffsets[s + 1]!; e++) sum += v[edgeTargets[e]!]!;
      w[s] = sum;
    }
    for (let i = 0; i < startStates.length; i++) w[0]! += v[startStates[i]!]!;
    for (let s = 0; s < n; s++) total += w[s]!;
    // v sums to 1, so the growth of the sum estimates r + 1.
    const next = total - 1;
    for (let s = 0; s < n; s++) w[s]! /= total;
    [v, w] = [w, v];
    if (iteration > 0 && Math.abs(next - estimate) <= TOLERANCE * Math.max(1, next)) return Math.log(next);
    estimate = next;
  }
  return Math.log(estimate);
}
