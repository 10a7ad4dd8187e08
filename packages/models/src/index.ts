import { registerDefinition } from "@selectiv/core";
import type { DependencyContainer } from "tsyringe";
import { linearAttentionDefinition } from "./linear-attention/definition.js";
import { retNetDefinition } from "./retnet/definition.js";
import { transformerDefinition } from "./transformer/definition.js";
import { glaDefinition } from "./gla/definition.js";
import { mambaDefinition } from "./mamba/definition.js";
import { mamba2Definition } from "./mamba2/definition.js";
import { deltaNetDefinition } from "./delta-net/definition.js";
import { gatedDeltaNetDefinition } from "./gated-delta-net/definition.js";
import { gatedDeltaProductDefinition } from "./gated-delta-product/definition.js";
import { gruDefinition } from "./gru/definition.js";
import { s4dDefinition } from "./s4d/definition.js";
import { mesaNetDefinition } from "./mesa-net/definition.js";

export { glaDefinition } from "./gla/definition.js";
export { GatedLinearAttention } from "./gla/layer.js";
export { glaDefaults, glaSchema, type GlaConfig } from "./gla/config.js";
export { mambaDefinition } from "./mamba/definition.js";
export { Mamba } from "./mamba/layer.js";
export { mambaDefaults, mambaSchema, type MambaConfig } from "./mamba/config.js";
export { mamba2Definition } from "./mamba2/definition.js";
export { Mamba2 } from "./mamba2/layer.js";
export { mamba2Defaults, mamba2Schema, type Mamba2Config } from "./mamba2/config.js";
export { retNetDefinition } from "./retnet/definition.js";
export { MultiScaleRetention } from "./retnet/layer.js";
export { retNetDefaults, retNetSchema, type RetNetConfig } from "./retnet/config.js";
export { linearAttentionDefinition } from "./linear-attention/definition.js";
export { LinearAttention } from "./linear-attention/layer.js";
export { linearAttentionDefaults, linearAttentionSchema, type LinearAttentionConfig } from "./linear-attention/config.js";
export { transformerDefinition } from "./transformer/definition.js";
export { TransformerDecoderLayer } from "./transformer/layer.js";
export { transformerDefaults, transformerSchema, type TransformerConfig } from "./transformer/config.js";
export { deltaNetDefinition } from "./delta-net/definition.js";
export { DeltaNet } from "./delta-net/layer.js";
export { deltaNetDefaults, deltaNetSchema, type DeltaNetConfig } from "./delta-net/config.js";
export { gatedDeltaNetDefinition } from "./gated-delta-net/definition.js";
export { GatedDeltaNet } from "./gated-delta-net/layer.js";
export { gatedDeltaNetDefaults, gatedDeltaNetSchema, type GatedDeltaNetConfig } from "./gated-delta-net/config.js";
export { gatedDeltaProductDefinition } from "./gated-delta-product/definition.js";
export { GatedDeltaProduct } from "./gated-delta-product/layer.js";
export { gatedDeltaProductDefaults, gatedDeltaProductSchema, type GatedDeltaProductConfig } from "./gated-delta-product/config.js";
export { gruDefinition } from "./gru/definition.js";
export { Gru } from "./gru/layer.js";
export { gruDefaults, gruSchema, type GruConfig } from "./gru/config.js";
export { s4dDefinition } from "./s4d/definition.js";
export { S4d } from "./s4d/layer.js";
export { s4dDefaults, s4dSchema, type S4dConfig } from "./s4d/config.js";
export { mesaNetDefinition } from "./mesa-net/definition.js";
export { MesaNet } from "./mesa-net/layer.js";
export { mesaNetDefaults, mesaNetSchema, type MesaNetConfig } from "./mesa-net/config.js";

/** Every built-in model, one folder each; adding a model means adding it here. */
export const builtInModels = [
  glaDefinition,
  mambaDefinition,
  mamba2Definition,
  retNetDefinition,
  linearAttentionDefinition,
  transformerDefinition,
  deltaNetDefinition,
  gatedDeltaNetDefinition,
  gatedDeltaProductDefinition,
  gruDefinition,
  s4dDefinition,
  mesaNetDefinition,
] as const;

/** Registers the built-in models in a selectiv container. */
export function registerModels(container: DependencyContainer): void {
  for (const definition of builtInModels) registerDefinition(container, "model", definition);
}
