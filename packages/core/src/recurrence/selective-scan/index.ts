export type { SelectiveScanInputs } from "./inputs.js";
export { selectiveScanStep, selectiveScanStepwise } from "./naive.js";
export { selectiveScan } from "./fused.js";
export { fitsSelectiveScanKernel, selectiveScanByLinearScan, SELECTIVE_SCAN_KERNEL_FLOATS } from "./kernel.js";
