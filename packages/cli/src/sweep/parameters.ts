import { type ConfigValue, Rng, SelectivError } from "@selectiv/core";

/** What one sweep parameter ranges over: a list of values (grid or random) or a distribution (random only). */
export type ParameterDomain =
  { kind: "values"; values: ConfigValue[] } | { kind: "uniform" | "int_uniform" | "log_uniform"; min: number; max: number };

/** Distribution names a sweep format accepts, each making a domain from min and max. */
export type DistributionMakers = Record<string, (min: number, max: number) => ParameterDomain>;

/** One axis of a sweep. `crossed` axes are always fully crossed (also under random search); the rest are sampled. */
export interface SweepDimension {
  key: string;
  domain: ParameterDomain;
  crossed: boolean;
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function isScalar(v: unknown): v is ConfigValue {
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

/** The `--set` text of a value: numbers as JavaScript prints them (round-trip exact), booleans as true/false. */
export function valueText(v: ConfigValue): string {
  return String(v);
}

/**
 * Reads one parameter spec in the shared W&B-style syntax: a list (`[a, b]`), a scalar, `{values: [...]}`,
 * `{value: x}`, or `{min, max[, distribution]}`. `where` names the parameter in errors.
 */
export function parseDomain(spec: unknown, where: string, distributionNames: DistributionMakers): ParameterDomain {
  if (Array.isArray(spec)) return valuesDomain(spec, where);
  if (isScalar(spec)) return { kind: "values", values: [spec] };
  if (!isMapping(spec))
    throw new SelectivError(
      `${where}: got ${JSON.stringify(spec)}; expected a list of values, {values: [...]}, {value: x} or {min, max, distribution}`,
    );
  const keys = Object.keys(spec);
  const allowed = ["values", "value", "min", "max", "distribution"];
  const unknown = keys.find((k) => !allowed.includes(k));
  if (unknown) throw new SelectivError(`${where}: unknown key ${JSON.stringify(unknown)}; allowed: ${allowed.join(", ")}`);
  if ("values" in spec || "value" in spec) {
    if ("values" in spec && "value" in spec) throw new SelectivError(`${where}: give either values or value, not both`);
    if ("min" in spec || "max" in spec) throw new SelectivError(`${where}: give either values/value or min/max, not both`);
    if (spec.distribution !== undefined && spec.distribution !== "categorical" && spec.distribution !== "constant") {
      throw new SelectivError(`${where}: distribution ${JSON.stringify(spec.distribution)} does not take values; use min and max`);
    }
    return "values" in spec ? valuesDomain(spec.values, `${where}.values`) : valuesDomain([spec.value], `${where}.value`);
  }
  const { min, max } = spec;
  if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new SelectivError(`${where}: expected values, value, or numeric min and max; got ${JSON.stringify(spec)}`);
  }
  if (!(min < max)) throw new SelectivError(`${where}: min ${min} must be below max ${max}`);
  const name = spec.distribution ?? (Number.isInteger(min) && Number.isInteger(max) ? "int_uniform" : "uniform");
  const make = typeof name === "string" && Object.hasOwn(distributionNames, name) ? distributionNames[name] : undefined;
  if (!make) {
    throw new SelectivError(
      `${where}: distribution ${JSON.stringify(name)} is not supported; supported: ${Object.keys(distributionNames).join(", ")}`,
    );
  }
  return make(min, max);
}

function valuesDomain(values: unknown, where: string): ParameterDomain {
  if (!Array.isArray(values) || values.length === 0) throw new SelectivError(`${where}: expected a non-empty list of values`);
  const bad = values.find((v) => !isScalar(v));
  if (bad !== undefined)
    throw new SelectivError(`${where}: got ${JSON.stringify(bad)}; every value must be a number, a boolean or a string`);
  return { kind: "values", values: values as ConfigValue[] };
}

/** Checks a distribution's bounds for its kind (log-uniform needs min > 0; int-uniform needs integers). */
export function distributionDomain(
  kind: "uniform" | "int_uniform" | "log_uniform",
  min: number,
  max: number,
  where: string,
): ParameterDomain {
  if (kind === "int_uniform" && !(Number.isInteger(min) && Number.isInteger(max))) {
    throw new SelectivError(`${where}: int_uniform needs integer min and max; got ${min} and ${max}`);
  }
  if (kind === "log_uniform" && !(min > 0)) throw new SelectivError(`${where}: log_uniform needs min > 0; got ${min}`);
  return { kind, min, max };
}

/** The values a domain can take that a check should see: the whole list, or the two bounds of a distribution. */
export function representativeValues(domain: ParameterDomain): ConfigValue[] {
  return domain.kind === "values" ? domain.values : [domain.min, domain.max];
}

/** Draws one value. Continuous draws keep 6 significant digits (readable run listings; same value on every machine). */
export function sampleDomain(domain: ParameterDomain, rng: Rng): ConfigValue {
  switch (domain.kind) {
    case "values":
      return domain.values[rng.int(domain.values.length)]!;
    case "int_uniform":
      return domain.min + rng.int(domain.max - domain.min + 1);
    case "uniform":
      return Number(rng.uniform(domain.min, domain.max).toPrecision(6));
    case "log_uniform":
      return Number(Math.exp(rng.uniform(Math.log(domain.min), Math.log(domain.max))).toPrecision(6));
  }
}

/** One point of a sweep: a value for every dimension. */
export type SweepPoint = Record<string, ConfigValue>;

/** How many points `expandPoints` yields: the product of the grid's (random: the crossed) sizes, times count for random. */
export function pointCount(dimensions: readonly SweepDimension[], method: "grid" | "random", count: number): number {
  let points = method === "grid" ? 1 : count;
  for (const d of dimensions) if ((method === "grid" || d.crossed) && d.domain.kind === "values") points *= d.domain.values.length;
  return points;
}

/**
 * Every point of a sweep, one at a time (a grid of a million points is never held as a list). Grid: the product
 * of all dimensions (the last dimension varies fastest). Random: `count` draws of the sampled dimensions, each
 * crossed with every crossed dimension (draws vary fastest within each crossed cell). Draw i of key k comes from
 * Rng(hash("sweep-random", randomSeed, i, k)), so adding a parameter does not change the others' draws.
 */
export function* expandPoints(
  dimensions: readonly SweepDimension[],
  method: "grid" | "random",
  count: number,
  randomSeed: number,
): Generator<SweepPoint> {
  const crossed = method === "grid" ? dimensions : dimensions.filter((d) => d.crossed);
  const axes = crossed.map((d) => {
    if (d.domain.kind !== "values") throw new SelectivError(`parameter ${JSON.stringify(d.key)}: a grid needs a list of values`);
    return { key: d.key, values: d.domain.values };
  });
  const sampled = method === "grid" ? [] : dimensions.filter((d) => !d.crossed);
  const drawCount = method === "grid" ? 1 : count;
  // The draws are the same in every crossed cell: drawn once, in the first.
  const draws: SweepPoint[] = [];
  const drawOf = (i: number): SweepPoint => {
    if (i < draws.length) return draws[i]!;
    const draw: SweepPoint = {};
    for (const d of sampled) draw[d.key] = sampleDomain(d.domain, Rng.from("sweep-random", randomSeed, i, d.key));
    draws.push(draw);
    return draw;
  };
  // An odometer over the crossed axes, the last turning fastest.
  const at = axes.map(() => 0);
  if (axes.some((a) => a.values.length === 0)) return;
  for (;;) {
    const cell: SweepPoint = {};
    axes.forEach((a, k) => (cell[a.key] = a.values[at[k]!]!));
    for (let i = 0; i < drawCount; i++) yield sampled.length ? { ...cell, ...drawOf(i) } : { ...cell };
    let k = axes.length - 1;
    while (k >= 0 && ++at[k]! === axes[k]!.values.length) at[k--] = 0;
    if (k < 0) return;
  }
}
