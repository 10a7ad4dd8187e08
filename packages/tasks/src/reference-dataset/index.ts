export { referenceDatasetDefinition } from "./definition.js";
