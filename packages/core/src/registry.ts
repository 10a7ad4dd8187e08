import { Lifecycle, inject, injectable, type DependencyContainer } from "tsyringe";
import { type Config, type ConfigSchema, resolveConfig } from "./config.js";
import { SelectivError } from "./errors.js";
import type { ModelDefinition } from "./model.js";
import type { TaskDefinition } from "./task.js";
import { Tokens } from "./tokens.js";

interface Identified {
  readonly id: string;
  readonly description: string;
}

const ID_PATTERN = /^[a-z][a-z0-9._-]*$/;

/** The definitions registered under one token, by id. Built-ins and plugins register the same way. */
class DefinitionRegistry<D extends Identified> {
  private readonly byId = new Map<string, D>();

  constructor(
    private readonly container: DependencyContainer,
    private readonly token: string,
    private readonly kind: "model" | "task",
  ) {}

  private sync(): void {
    if (!this.container.isRegistered(this.token, true)) return;
    for (const def of this.container.resolveAll<D>(this.token)) {
      if (!this.byId.has(def.id)) this.byId.set(def.id, def);
    }
  }

  get(id: string): D {
    this.sync();
    const def = this.byId.get(id);
    if (!def) {
      throw new SelectivError(`unknown ${this.kind} ${JSON.stringify(id)}; available: ${this.ids().join(", ") || "(none)"}`);
    }
    return def;
  }

  has(id: string): boolean {
    this.sync();
    return this.byId.has(id);
  }

  ids(): string[] {
    this.sync();
    return [...this.byId.keys()].sort();
  }

  list(): D[] {
    return this.ids().map((id) => this.byId.get(id)!);
  }
}

@injectable()
export class ModelRegistry extends DefinitionRegistry<ModelDefinition> {
  constructor(@inject(Tokens.Container) container: DependencyContainer) {
    super(container, Tokens.ModelDefinition, "model");
  }
}

@injectable()
export class TaskRegistry extends DefinitionRegistry<TaskDefinition> {
  constructor(@inject(Tokens.Container) container: DependencyContainer) {
    super(container, Tokens.TaskDefinition, "task");
  }
}

/** A definition waiting to join a registry (a plugin's registrations are checked together, then committed). */
export interface PendingDefinition {
  readonly kind: "model" | "task";
  readonly definition: Identified;
}

/**
 * Registers definitions after checking each id (well-formed, not already taken, not given twice) and shape. All
 * are checked before any is registered, so a failure leaves the registries as they were. A clash is an error
 * naming both owners, so a plugin cannot shadow a built-in.
 */
export function registerDefinitions(container: DependencyContainer, pending: readonly PendingDefinition[], owner = "built-in"): void {
  const given = new Set<string>();
  for (const { kind, definition: def } of pending) {
    if (typeof def?.id !== "string" || !ID_PATTERN.test(def.id)) {
      throw new SelectivError(
        `${owner}: ${kind} id ${JSON.stringify(def?.id)} is not allowed; expected lower-case letters, digits, '.', '_' or '-', starting with a letter`,
      );
    }
    checkDefinitionShape(kind, def, owner);
    const token = tokenOf(kind);
    if (container.isRegistered(token, true)) {
      const clash = container.resolveAll<Identified & { owner?: string }>(token).find((d) => d.id === def.id);
      if (clash) {
        throw new SelectivError(
          `${owner}: ${kind} id ${JSON.stringify(def.id)} is already registered by ${clash.owner ?? "built-in"}; choose another id`,
        );
      }
    }
    if (given.has(`${kind} ${def.id}`)) {
      throw new SelectivError(`${owner}: ${kind} id ${JSON.stringify(def.id)} is registered twice; give each definition its own id`);
    }
    given.add(`${kind} ${def.id}`);
  }
  for (const { kind, definition: def } of pending) {
    container.register(tokenOf(kind), {
      useValue: Object.assign(Object.create(Object.getPrototypeOf(def) as object) as object, def, { owner }),
    });
  }
}

/** Registers one definition after the checks of `registerDefinitions`. */
export function registerDefinition(container: DependencyContainer, kind: "model" | "task", def: Identified, owner = "built-in"): void {
  registerDefinitions(container, [{ kind, definition: def }], owner);
}

function tokenOf(kind: "model" | "task"): string {
  return kind === "model" ? Tokens.ModelDefinition : Tokens.TaskDefinition;
}

/**
 * A definition must be well-formed before it joins the registry: its defaults and every preset must pass its
 * own schema (the one schema layer every config goes through), and its functions must exist.
 */
function checkDefinitionShape(kind: "model" | "task", def: Identified, owner: string): void {
  const d = def as unknown as Record<string, unknown>;
  const where = `${owner}: ${kind} ${JSON.stringify(def.id)}`;
  if (typeof d.description !== "string") throw new SelectivError(`${where}: description must be a string`);
  if (d.schema === null || typeof d.schema !== "object") throw new SelectivError(`${where}: schema must be a mapping of field specs`);
  const functions = kind === "model" ? ["createLayer", "parametersPerLayer"] : ["create"];
  for (const f of functions) if (typeof d[f] !== "function") throw new SelectivError(`${where}: ${f} must be a function`);
  if (kind === "model") {
    const t = d.taxonomy as Record<string, unknown> | undefined;
    if (!t || typeof t !== "object" || typeof t.transition !== "string" || typeof t.stateSize !== "function") {
      throw new SelectivError(`${where}: taxonomy must give at least transition (a string) and stateSize (a function)`);
    }
    const widths = d.activationWidths;
    if (widths !== undefined && !(typeof widths === "number" && Number.isFinite(widths) && widths > 0)) {
      throw new SelectivError(`${where}: activationWidths must be a positive number; got ${JSON.stringify(widths)}`);
    }
  }
  const schema = d.schema as ConfigSchema;
  for (const [key, spec] of Object.entries(schema)) {
    if (
      !spec ||
      typeof spec !== "object" ||
      !["int", "number", "boolean", "enum", "string"].includes((spec as { type?: string }).type ?? "")
    ) {
      throw new SelectivError(
        `${where}: schema field ${JSON.stringify(key)} has no valid type; allowed: int, number, boolean, enum, string`,
      );
    }
  }
  const defaults = resolveConfig(schema, (d.defaults ?? {}) as Config, {}, `${where} defaults`);
  const presets = (d.presets ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, preset] of Object.entries(presets)) resolveConfig(schema, defaults, preset ?? {}, `${where} preset ${name}`);
}

/** A child container holding the registries; register definitions into it, then resolve the registries. */
export function createSelectivContainer(parent: DependencyContainer): DependencyContainer {
  const c = parent.createChildContainer();
  c.register(Tokens.Container, { useValue: c });
  // One registry per container, not one per resolve: planning a sweep resolves them for every point, and each new
  // instance would re-read every definition. A registry picks up definitions registered after it was made.
  c.register(Tokens.ModelRegistry, { useClass: ModelRegistry }, { lifecycle: Lifecycle.ContainerScoped });
  c.register(Tokens.TaskRegistry, { useClass: TaskRegistry }, { lifecycle: Lifecycle.ContainerScoped });
  return c;
}
