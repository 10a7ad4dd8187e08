import type { ReferenceParameter } from "@selectiv/core";

/**
 * Building blocks of the models' `referenceParameters` tables (docs/WEIGHTS.md): our parameter names already are the
 * reference module's, so an entry usually keeps the name and says how PyTorch lays the tensor out.
 */
export type ReferenceTable = Record<string, ReferenceParameter>;

/** A torch nn.Linear (ours [in, out], torch [out, in]) and its bias, optionally under another name in the reference. */
export function torchLinear(ours: string, options: { bias?: boolean; reference?: string } = {}): ReferenceTable {
  const name = options.reference ?? ours;
  return {
    [`${ours}.weight`]: { name: `${name}.weight`, layout: "transpose" },
    ...(options.bias ? { [`${ours}.bias`]: { name: `${name}.bias`, layout: "same" } } : {}),
  };
}

/** A depthwise causal Conv1d (fla ShortConvolution, mamba's conv1d): ours [K, C], torch [C, 1, K]. */
export function torchDepthwiseConv(ours: string, options: { bias?: boolean } = {}): ReferenceTable {
  return {
    [`${ours}.weight`]: { name: `${ours}.weight`, layout: "depthwise-conv" },
    ...(options.bias ? { [`${ours}.bias`]: { name: `${ours}.bias`, layout: "same" } } : {}),
  };
}

/** Tensors stored alike on both sides (vectors, norm weights, A_log, …), each under `reference` or its own name. */
export function sameLayout(...names: (string | [ours: string, reference: string])[]): ReferenceTable {
  return Object.fromEntries(
    names.map((n) => {
      const [ours, reference] = typeof n === "string" ? [n, n] : n;
      return [ours, { name: reference, layout: "same" }];
    }),
  );
}

/** The q/k/v projections and their short convs of the fla skeleton (docs/spec/MODELS.md §3), for the given names. */
export function flaProjectionsAndConvs(names: readonly string[]): ReferenceTable {
  return Object.assign({}, ...names.map((n) => ({ ...torchLinear(`${n}_proj`), ...torchDepthwiseConv(`${n}_conv1d`) })));
}
