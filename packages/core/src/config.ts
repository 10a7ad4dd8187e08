import { SelectivError } from "./errors.js";

/** One field of a config schema. Every config path (flags, --set, files, presets, plugins) is checked by these. */
export type FieldSpec =
  | { type: "int"; min?: number; max?: number; description: string }
  | { type: "number"; min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean; description: string }
  | { type: "boolean"; description: string }
  | { type: "enum"; values: readonly string[]; description: string }
  | { type: "string"; description: string };

export type ConfigSchema = Readonly<Record<string, FieldSpec>>;
export type ConfigValue = number | boolean | string;
export type Config = Record<string, ConfigValue>;

export function describeAllowed(spec: FieldSpec): string {
  switch (spec.type) {
    case "int":
      return `an integer${range(spec.min, spec.max, false, false)}`;
    case "number":
      return `a number${range(spec.min, spec.max, spec.exclusiveMin ?? false, spec.exclusiveMax ?? false)}`;
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${spec.values.join(", ")}`;
    case "string":
      return "a string";
  }
}

/**
 * The spec of `key` when it is one of the schema's own fields. Never `schema[key]` on user input: that finds
 * Object.prototype's members ("__proto__", "toString", …) and would take them for fields.
 */
export function fieldOf(schema: ConfigSchema, key: string): FieldSpec | undefined {
  return Object.hasOwn(schema, key) ? schema[key] : undefined;
}

function range(min: number | undefined, max: number | undefined, exMin: boolean, exMax: boolean): string {
  if (min === undefined && max === undefined) return "";
  if (max === undefined) return ` ${exMin ? ">" : "≥"} ${min}`;
  if (min === undefined) return ` ${exMax ? "<" : "≤"} ${max}`;
  return ` in ${exMin ? "(" : "["}${min}, ${max}${exMax ? ")" : "]"}`;
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(value);
  }
}

/** Checks one value against its spec; returns it typed, or throws a one-line SelectivError naming `path`. */
export function checkField(spec: FieldSpec, value: unknown, path: string): ConfigValue {
  const bad = (): never => {
    throw new SelectivError(`${path}: got ${show(value)}; expected ${describeAllowed(spec)}`);
  };
  switch (spec.type) {
    case "int":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) return bad();
      if (spec.type === "int" && !Number.isInteger(value)) return bad();
      const exMin = spec.type === "number" && (spec.exclusiveMin ?? false);
      const exMax = spec.type === "number" && (spec.exclusiveMax ?? false);
      if (spec.min !== undefined && (exMin ? value <= spec.min : value < spec.min)) return bad();
      if (spec.max !== undefined && (exMax ? value >= spec.max : value > spec.max)) return bad();
      return value;
    }
    case "boolean":
      return typeof value === "boolean" ? value : bad();
    case "enum":
      return typeof value === "string" && spec.values.includes(value) ? value : bad();
    case "string":
      return typeof value === "string" ? value : bad();
  }
}

/**
 * Merges `overrides` over `defaults` and checks every field against `schema`.
 * Unknown keys and bad values give a one-line SelectivError naming `context.key`.
 */
export function resolveConfig<C extends Config>(
  schema: ConfigSchema,
  defaults: C,
  overrides: Readonly<Record<string, unknown>>,
  context: string,
): C {
  if (overrides === null || typeof overrides !== "object" || Array.isArray(overrides)) {
    throw new SelectivError(`${context}: got ${show(overrides)}; expected a mapping of keys to values`);
  }
  const out: Config = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    const spec = fieldOf(schema, key);
    if (!spec) {
      throw new SelectivError(`${context}: unknown key ${JSON.stringify(key)}; allowed: ${Object.keys(schema).join(", ")}`);
    }
    out[key] = checkField(spec, value, `${context}.${key}`);
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (!Object.hasOwn(out, key)) throw new SelectivError(`${context}.${key}: missing; expected ${describeAllowed(spec)}`);
    checkField(spec, out[key], `${context}.${key}`);
  }
  return out as C;
}

/** Parses the text of a `--set key=value` value for a field (numbers, booleans, enums and strings). */
export function parseFieldText(spec: FieldSpec, text: string, path: string): ConfigValue {
  const t = text.trim();
  let value: unknown = t;
  if (spec.type === "int" || spec.type === "number") value = t === "" ? NaN : Number(t);
  else if (spec.type === "boolean") value = t === "true" ? true : t === "false" ? false : t;
  if (typeof value === "number" && Number.isNaN(value)) {
    throw new SelectivError(`${path}: got ${JSON.stringify(text)}; expected ${describeAllowed(spec)}`);
  }
  return checkField(spec, value, path);
}
