// The public API of @selectiv/core, listed explicitly: what tasks, models, plugins, the CLI and embedding programs
// may use. Internals (the CPU lane engine, checkpoint file layout helpers) stay unexported.
import "reflect-metadata";

// Engine, errors, seeds, configuration
export { tf, type Tensor, type Variable } from "./tf.js";
export { SelectivError, isSelectivError, oneLine } from "./errors.js";
export { Rng, hashSeed } from "./rng.js";
export {
  checkField,
  describeAllowed,
  fieldOf,
  parseFieldText,
  resolveConfig,
  type Config,
  type ConfigSchema,
  type ConfigValue,
  type FieldSpec,
} from "./config.js";

// Contracts: tasks, models, registries, plugins, backends
export {
  OBJECTIVES,
  PRESET_NAMES,
  taskPreset,
  type Batch,
  type Objective,
  type PresetName,
  type RequiredPresetName,
  type Split,
  type SuiteEntry,
  type TargetDistributions,
  type TaskDefinition,
  type TaskInstance,
} from "./task.js";
export {
  DEFAULT_ACTIVATION_WIDTHS,
  type ComputeForm,
  type ForwardOptions,
  type ReferenceBuffer,
  type ReferenceLayout,
  type ReferenceParameter,
  type ReferenceParameters,
  type LayerBuildContext,
  type LayerState,
  type ModelDefinition,
  type SequenceLayer,
  type Taxonomy,
  type TransitionKind,
  dropoutActive,
} from "./model.js";
export { Tokens } from "./tokens.js";
export {
  ModelRegistry,
  TaskRegistry,
  createSelectivContainer,
  registerDefinition,
  registerDefinitions,
  type PendingDefinition,
} from "./registry.js";
export {
  DEFAULT_PLUGIN_TIMEOUT_MS,
  PLUGIN_API_VERSION,
  PLUGIN_KEYWORD,
  collectingHost,
  findLocalPlugins,
  findNodeModulesPlugins,
  isPluginPackage,
  loadPlugins,
  pluginTimeoutMs,
  readPluginPackage,
  type PluginCandidate,
  type PluginHost,
  type PluginModule,
} from "./plugin.js";
export {
  BACKEND_PREFERENCES,
  assertBackendHealthy,
  releaseUnusedGpuBuffers,
  currentBackend,
  initBackend,
  probeWebgpu,
  type BackendChoice,
  type BackendName,
  type BackendPreference,
} from "./backend.js";

// Layers and the network wrapper (docs/spec/MODELS.md §0–§2)
export { ParameterScope, ParameterStore, init, type Initializer } from "./nn/parameters.js";
export {
  LayerNorm,
  Linear,
  RMSNorm,
  ShortConv,
  dropout,
  logSigmoid,
  matMul2d,
  mergeHeads,
  broadcastSummingGradient,
  l2NormalizeLastAxis,
  repeatAlongNewAxis,
  repeatAlongNewAxis1,
  sharedHead,
  silu,
  swishGate,
  swishGatePacked,
  splitHeads,
  splitHeadsByTime,
  sumOfTensors,
} from "./nn/layers.js";
export { attentionStep, causalAttention, causalAttentionByTime } from "./nn/attention.js";
export { Rotary } from "./nn/rotary.js";
export { RecNet, headsForWidth, type RecNetShape, type ReferenceNaming, type ReferenceStateLayout } from "./recnet.js";

// Recurrence operators, each with its stepwise oracle, chunked form and fused CPU kernel (docs/spec/MODELS.md §6–§9)
export {
  cumsumLastAxis,
  maskLastTwo,
  padTime,
  segmentSums,
  sliceInner,
  zeroState,
  type RecurrenceResult,
} from "./recurrence/tensor-ops.js";
export { prefersFusedKernels, prefersRegisteredKernels } from "./recurrence/kernels.js";
export {
  chunkedScan,
  DECAYED_LINEAR_SCAN,
  DECAYED_LINEAR_SCAN_GRAD,
  fusedScan,
  kernelScan,
  kernelScanOutput,
  linearRecurrence,
  linearRecurrenceOutput,
  linearRecurrenceOutputByTime,
  registerDecayedLinearScanKernels,
  recurrenceStep,
  stepwiseScan,
  type ChunkOptions,
  type Decay,
  type RecurrenceInputs,
} from "./recurrence/linear/index.js";
export {
  DELTA_RULE,
  DELTA_RULE_GRAD,
  deltaRule,
  deltaRuleChunked,
  deltaRuleOutputByTime,
  deltaRuleStep,
  deltaRuleStepwise,
  fusedDeltaRule,
  kernelDeltaRule,
  kernelDeltaRuleOutputByTime,
  registerDeltaRuleKernels,
  unitLowerInverse,
  type DeltaChunkOptions,
  type DeltaRuleInputs,
} from "./recurrence/delta-rule/index.js";
export { selectiveScan, selectiveScanStep, selectiveScanStepwise, type SelectiveScanInputs } from "./recurrence/selective-scan/index.js";

// Loss, metrics, optimiser (docs/spec/TASKS.md §4–§5)
export { batchTensors, type BatchTensors } from "./batch-tensors.js";
export {
  KL_TARGET_EPSILON,
  addSymbolClassCounts,
  maskedCrossEntropySum,
  maskedKlDivergenceSum,
  smoothedDistributions,
  windowAccuracyCounts,
  windowMatrix,
  type SmoothedDistributions,
} from "./metric.js";
export { Adam, clipByGlobalNorm, learningRateAt } from "./optim.js";
export { inPlaceAdamDispatches, inPlaceAdamGroupSize } from "./optim-in-place.js";
export {
  DROPOUT_UNTIL,
  TRAINING_DEFAULTS,
  TRAINING_PRESETS,
  TRAINING_SCHEMA,
  type DropoutUntil,
  type TrainingConfig,
} from "./training-config.js";

// Training: one optimiser step, one run's loop, evaluation, the run folder, planning and running a benchmark
export {
  ACTIVATION_FLOAT_BUDGET,
  GPU_ACTIVATION_FLOAT_BUDGET,
  activationFloatBudget,
  activationFloatsPerStep,
  microBatchSize,
  passGradients,
  trainingStep,
  type GradientHelper,
  type PassGradients,
  type PassSpec,
  type TrainingStepOptions,
  type TrainingStepResult,
} from "./optimizer-step.js";
export { trainAndEvaluate, type GradientHelperFactory, type RunHooks, type TrainingProgress } from "./training-loop.js";
export {
  EVAL_TOKEN_BUDGET,
  ceilingOf,
  evaluateModel,
  evaluateOnTests,
  evaluateTransfer,
  meanOfTests,
  transferTrainingSpec,
  evaluationBatchSize,
  isBetterEvaluation,
  isPrediction,
  majorityClassOf,
  type Evaluation,
  type TestResult,
} from "./evaluation.js";
export { buildNet, headsOf, runId, runSettings, type RunIdentity, type RunSpec } from "./run-spec.js";
export { RunFolder, loadTrainedNet, type CheckpointMeta, type RunConfigFile } from "./run-folder.js";
export { readCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointArrays } from "./checkpoint.js";
export {
  MAX_SAFETENSORS_HEADER_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
  type Float32Tensor,
  type SafetensorsContents,
} from "./safetensors.js";
export { loadReferenceStateDict, referenceShape, referenceStateDict } from "./reference-weights.js";
export { ensureWritableDir, processAlive, removeStaleTempFiles, withFileLock, writeFileAtomic, writeJsonAtomic } from "./files.js";
export { checkRunFitsMemory, estimateRunMemory, type MemoryEstimate } from "./memory-estimate.js";
export { readResults, writeResultsIndex, type EvaluationRecord, type RunResult, type WarningSink } from "./results.js";
export { emptyOverrides, parseAssignments, planBenchmark, type BenchmarkRequest, type Overrides, type PlannedRun } from "./plan.js";
export { runBenchmark, type BenchmarkHooks, type BenchmarkReport } from "./runner.js";
