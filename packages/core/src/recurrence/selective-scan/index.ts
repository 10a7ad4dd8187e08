export type { SelectiveScanInputs } from "./inputs.js";
export { selectiveScanStep, selectiveScanStepwise } from "./naive.js";
export { selectiveScan } from "./fused.js";
