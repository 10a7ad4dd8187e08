// @selectiv/core/testkit: the model contract for plugin authors, run from their own test suite.
import "reflect-metadata";
export { describeModelContract, CONTRACT_LENGTHS, type ModelContractOptions, type TestFunctions } from "./describe.js";
export { registeredModel } from "./host.js";
export { checkBackendParity, syntheticBatch, type BackendParity, type BackendParityCase } from "./backend-parity.js";
export {
  ContractViolation,
  DEFAULT_TOLERANCE,
  KERNEL_CHOICES,
  SMALL_LAYER,
  WIDER_LAYER,
  badValuesFor,
  checkChunkedMatchesStepwise,
  checkParameterCount,
  checkSchemaRejectsBadValues,
  checkSeedDeterminism,
  checkStreamingMatchesForward,
  checkTaxonomy,
  contractConfig,
  oneLineErrorOf,
  withKernels,
  type Agreement,
  type EquivalenceCase,
  type KernelChoice,
  type LayerSize,
  type SeedCase,
  type StreamingCase,
  type Tolerance,
} from "./checks.js";
