import type { SuiteEntry } from "@selectiv/core";

type PaperAccuracy = NonNullable<SuiteEntry["paperAccuracy"]>;

/** The paper's test accuracies, 8 layers, paper preset (docs/spec/TASKS.md §5), by task and model id. */
function column(index: 0 | 1 | 2): PaperAccuracy {
  const table: Record<string, [number, number][]> = {
    "delta-net": [
      [0.5, 0.01],
      [0.41, 0.01],
      [0.35, 0.001],
    ],
    gla: [
      [0.75, 0.01],
      [0.68, 0.05],
      [0.5, 0.01],
    ],
    mamba: [
      [0.89, 0.009],
      [0.71, 0.01],
      [0.63, 0.08],
    ],
    mamba2: [
      [0.92, 0.007],
      [0.67, 0.01],
      [0.64, 0.01],
    ],
    "gated-delta-net": [
      [0.87, 0.01],
      [0.76, 0.01],
      [0.57, 0.008],
    ],
    "gated-delta-product": [
      [0.87, 0.008],
      [0.74, 0.02],
      [0.61, 0.01],
    ],
    transformer: [
      [0.86, 0.005],
      [0.77, 0.01],
      [0.67, 0.07],
    ],
  };
  return Object.fromEntries(Object.entries(table).map(([model, cells]) => [model, { mean: cells[index]![0], std: cells[index]![1] }]));
}

export const PAPER_TASK1 = column(0);
export const PAPER_TASK2 = column(1);
export const PAPER_TASK3 = column(2);

/** Task 4 has no table in the paper, only its finding (docs/spec/TASKS.md §5). */
export const PAPER_TASK4_FINDING =
  "paper: in-state channel mixing helps at longer gaps (delta-rule models degrade least); the Transformer is weaker at 10x the training gap";
