/**
 * Shortest number of transitions from every state to `#` (state 0), by breadth-first search on the reversed
 * graph; -1 where `#` cannot be reached. `offsets`/`targets` are the outgoing edges in CSR form.
 */
export function transitionsToEnd(offsets: Int32Array, targets: Int32Array, numStates: number): Int32Array {
  const inDegree = new Int32Array(numStates + 1);
  for (let e = 0; e < offsets[numStates]!; e++) inDegree[targets[e]! + 1]!++;
  for (let s = 0; s < numStates; s++) inDegree[s + 1]! += inDegree[s]!;
  const reverseOffsets = inDegree;
  const fill = reverseOffsets.slice(0, numStates);
  const sources = new Int32Array(offsets[numStates]!);
  for (let s = 0; s < numStates; s++) {
    for (let e = offsets[s]!; e < offsets[s + 1]!; e++) sources[fill[targets[e]!]!++] = s;
  }
  const distance = new Int32Array(numStates).fill(-1);
  const queue = new Int32Array(numStates);
  distance[0] = 0;
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const t = queue[head++]!;
    for (let e = reverseOffsets[t]!; e < reverseOffsets[t + 1]!; e++) {
      const s = sources[e]!;
      if (distance[s] === -1) {
        distance[s] = distance[t]! + 1;
        queue[tail++] = s;
      }
    }
  }
  return distance;
}
