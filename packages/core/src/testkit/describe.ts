import { initBackend } from "../backend.js";
import type { Config } from "../config.js";
import type { ModelDefinition } from "../model.js";
import {
  KERNEL_CHOICES,
  SMALL_LAYER,
  WIDER_LAYER,
  checkChunkedMatchesStepwise,
  checkParameterCount,
  checkSchemaRejectsBadValues,
  checkSeedDeterminism,
  checkStreamingMatchesForward,
  checkTaxonomy,
  contractConfig,
  type Tolerance,
} from "./checks.js";

/**
 * The caller's `describe` and `it` (vitest's, or any runner with the same shape). They are passed in rather than
 * imported so that @selectiv/core never loads vitest: the plugin's own vitest runs the cases it collects.
 */
export interface TestFunctions {
  readonly describe: (name: string, body: () => void) => unknown;
  readonly it: (name: string, body: () => Promise<void>, timeout?: number) => unknown;
}

export interface ModelContractOptions extends TestFunctions {
  /**
   * Named config overrides checked besides the defaults (equivalence, streaming, parameter count), e.g.
   * `{ "without short convolution": { useShortConv: false } }`.
   */
  readonly variants?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly tolerance?: Tolerance;
  /** Per-case timeout in milliseconds (default 120 000: the stepwise oracle is slow on a busy CPU). */
  readonly timeout?: number;
}

/** Sequence lengths of the equivalence cases: one step, shorter than a chunk, one chunk, several with a remainder. */
export const CONTRACT_LENGTHS: readonly number[] = [1, 5, 16, 37];

/**
 * Declares the model contract as test cases, on the CPU backend: the chunked training form equals the stepwise
 * oracle (values and gradients, both kernel choices, T = 1, 5, 16, 37), streaming equals forward,
 * parametersPerLayer equals the parameters created at two widths, the same seed gives the same weights and
 * outputs, the taxonomy is complete, and the schema refuses bad values with one line.
 */
export function describeModelContract(definition: ModelDefinition, options: ModelContractOptions): void {
  const { describe, it } = options;
  const timeout = options.timeout ?? 120_000;
  const tolerance = options.tolerance;
  const test = (name: string, check: () => void) =>
    it(
      name,
      async () => {
        await initBackend("cpu");
        check();
      },
      timeout,
    );
  // Resolved while collecting, so a variant the schema refuses fails at once with the schema's message.
  const configs: [string, Config][] = [
    ["defaults", contractConfig(definition)],
    ...Object.entries(options.variants ?? {}).map(([name, overrides]): [string, Config] => [name, contractConfig(definition, overrides)]),
  ];

  describe(`model contract: ${definition.id}`, () => {
    test("taxonomy fields are present and well-typed", () => checkTaxonomy(definition));
    test("the schema accepts the defaults and refuses a bad value for every field, in one line", () =>
      checkSchemaRejectsBadValues(definition));
    test("the same seed gives the same weights and outputs; another seed gives different ones", () =>
      checkSeedDeterminism(definition, { config: configs[0]![1] }));
    for (const [name, config] of configs) {
      describe(`config: ${name}`, () => {
        for (const kernels of KERNEL_CHOICES) {
          for (const length of CONTRACT_LENGTHS) {
            test(`chunked form (${kernels} kernels) ≡ stepwise oracle at T=${length}: values and gradients`, () => {
              checkChunkedMatchesStepwise(definition, { config, length, kernels, tolerance });
            });
          }
        }
        test("streaming (initialState + step) ≡ forward", () => {
          checkStreamingMatchesForward(definition, { config, tolerance });
        });
        const sizes = [SMALL_LAYER, WIDER_LAYER];
        test(`parametersPerLayer = parameters created at ${sizes.map((s) => `d=${s.dModel}/H=${s.heads}`).join(" and ")}`, () => {
          for (const size of sizes) checkParameterCount(definition, config, size);
        });
      });
    }
  });
}
